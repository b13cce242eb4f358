//! Issue 10 (first part), issue 17 item 7: the waker, built and served by `cargo lambda watch`
//! with the template's defaults (`WAKE_ON=auto`, a token key), invoked with
//! `events/alb-request.json` against moto server. moto's load balancers are internet-facing, as
//! AWS's are by default, so the request a sleeping service's swapped rule routed to the waking
//! target group gets the page with the Wake button and changes nothing; the button's post, as a
//! browser sends it, restores the service and sends the browser back to the reloading page.

use aws_sdk_elasticloadbalancingv2 as elb;
use serde_json::Value;
use testkit::{event_file, DemoFleet, LambdaWatch, DEMO_CLUSTERS};

const SERVICE_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:service/previews/pr-101-web";

#[tokio::test(flavor = "multi_thread")]
async fn a_request_to_the_waking_target_group_wakes_its_service_through_cargo_lambda() {
    let DemoFleet { moto, sdk, seeder, before } = DemoFleet::start().await;
    let mut env = moto.env();
    // As the template passes it: the stack's unique id.
    env.push(("WAKE_TOKEN_KEY".into(), "6f0c5d2e-8a4b-4c1e-9f3a-2b7d1e0c9a58".into()));
    let watch = LambdaWatch::start(&env);
    watch.invoke_file("scale-down", &event_file("friday-evening.json")).unwrap();
    assert_eq!(seeder.snapshot(&DEMO_CLUSTERS).await["previews/pr-101-web"].desired, 0);

    // The previews load balancer as the tool leaves it while pr-101-web sleeps: its rule
    // forwards to the load balancer's waking group, its own forward saved in its tags.
    let lb = elb::Client::new(&sdk);
    let alb = testkit::alb::previews(&moto, &lb).await;
    let web_tg = testkit::alb::target_group(&lb, &alb, "pr-101-web").await;
    let tag = |k: &str, v: &str| elb::types::Tag::builder().key(k).value(v).build();
    let group = lb
        .create_target_group()
        .name("csw-previews")
        .target_type(elb::types::TargetTypeEnum::Lambda)
        .tags(tag("cost-saver:made-by", "ecs-cost-saver"))
        .send()
        .await
        .unwrap();
    let group_arn = group.target_groups()[0].target_group_arn().unwrap().to_string();
    let host = elb::types::HostHeaderConditionConfig::builder().values("pr-101.previews.example.com").build();
    lb.create_rule()
        .listener_arn(&alb.listener)
        .priority(10)
        .conditions(elb::types::RuleCondition::builder().field("host-header").host_header_config(host).build())
        .actions(
            elb::types::Action::builder()
                .r#type(elb::types::ActionTypeEnum::Forward)
                .target_group_arn(&group_arn)
                .build(),
        )
        .tags(tag("cost-saver:wakes", SERVICE_ARN))
        .tags(tag("cost-saver:wakes-forward", &web_tg))
        .send()
        .await
        .unwrap();
    let other = lb
        .create_target_group()
        .name("not-a-waker")
        .target_type(elb::types::TargetTypeEnum::Lambda)
        .send()
        .await
        .unwrap();
    let other_arn = other.target_groups()[0].target_group_arn().unwrap().to_string();

    let mut event: Value =
        serde_json::from_str(&std::fs::read_to_string(event_file("alb-request.json")).unwrap()).unwrap();
    event["requestContext"]["elb"]["targetGroupArn"] = Value::String(group_arn);
    event["headers"]["x-forwarded-port"] = "80".into();
    let answer = watch.invoke_ascii("waker", &event.to_string()).unwrap();
    assert_eq!(answer["statusCode"], 503, "{answer:#}");
    let body = answer["body"].as_str().unwrap();
    assert!(body.contains("<button type=\"submit\">Wake pr-101-web (about a minute)</button>"), "{body}");
    assert!(!body.contains("refresh"), "waiting does not wake it: {body}");
    assert_eq!(seeder.snapshot(&DEMO_CLUSTERS).await["previews/pr-101-web"].desired, 0, "nothing written yet");
    let token = body.split(r#"name="cost-saver-wake" value=""#).nth(1).and_then(|t| t.split('"').next()).unwrap();

    // The button's post, as a browser sends it from that page.
    let mut press = event.clone();
    press["httpMethod"] = "POST".into();
    press["headers"]["origin"] = "https://pr-101.previews.example.com".into();
    press["headers"]["sec-fetch-site"] = "same-origin".into();
    press["headers"]["content-type"] = "application/x-www-form-urlencoded".into();
    press["body"] = format!("cost-saver-wake={token}").into();
    let pressed = watch.invoke_ascii("waker", &press.to_string()).unwrap();
    assert_eq!((pressed["statusCode"].as_u64(), pressed["headers"]["location"].as_str()), (Some(303), Some("/")));
    let answer = watch.invoke_ascii("waker", &event.to_string()).unwrap();
    let body = answer["body"].as_str().unwrap();
    assert!(body.contains("pr-101 is waking up"), "the environment wakes: {body}");
    assert!(body.contains(r#"<span class="name">pr-101-api</span>"#), "its members listed: {body}");
    assert!(body.contains(r#"http-equiv="refresh""#), "{body}");
    let woken = seeder.snapshot(&DEMO_CLUSTERS).await;
    let web = &woken["previews/pr-101-web"];
    assert_eq!(web.desired, before["previews/pr-101-web"].desired, "restored to its saved count");
    assert!(!web.tags.contains_key("cost-saver:saved"));
    let keep_alive = web.tags["cost-saver:keep-alive"].clone();
    // pr-101-api has no load balancer rule of its own here: it wakes with its environment.
    let api = &woken["previews/pr-101-api"];
    assert_eq!(api.desired, before["previews/pr-101-api"].desired, "its environment woken with it");
    assert_eq!(api.tags["cost-saver:keep-alive"], keep_alive, "with the same keep-alive");
    assert_eq!(woken["dev-tools/search"].desired, 0, "nothing outside the environment");

    // A second request: same page, nothing rewritten.
    let again = watch.invoke_ascii("waker", &event.to_string()).unwrap();
    assert_eq!(again["statusCode"], 503);
    assert_eq!(seeder.snapshot(&DEMO_CLUSTERS).await["previews/pr-101-web"].tags["cost-saver:keep-alive"], keep_alive);

    // A target group that is not the tool's wakes nothing, and its page does not reload.
    event["requestContext"]["elb"]["targetGroupArn"] = Value::String(other_arn);
    let refused = watch.invoke_ascii("waker", &event.to_string()).unwrap();
    let body = refused["body"].as_str().unwrap();
    assert!(body.contains("Nothing to wake here") && !body.contains("refresh"), "{body}");
}
