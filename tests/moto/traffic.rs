//! What the simulated days and weeks on moto share: the load balancer's event as the waker gets
//! it, the Monday the simulation starts on, the deployed crons' mode at an instant, and a
//! request written as the ALB's `RequestCount` metric.

use aws_sdk_cloudwatch as cw;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Timelike, Utc, Weekday};
use ecs_cost_saver::Mode;

/// `events/alb-request.json` routed to `target_group` by the port-80 listener, for `host` and `path`.
pub fn alb_request(target_group: &str, host: &str, path: &str) -> aws_lambda_events::alb::AlbTargetGroupRequest {
    let mut event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(testkit::event_file("alb-request.json")).unwrap()).unwrap();
    event["requestContext"]["elb"]["targetGroupArn"] = serde_json::Value::String(target_group.into());
    event["headers"]["host"] = serde_json::Value::String(host.into());
    event["headers"]["x-forwarded-port"] = "80".into();
    event["path"] = serde_json::Value::String(path.into());
    serde_json::from_value(event).unwrap()
}

/// The Monday after today: moto stamps deployments with the real clock, so a simulated day or
/// week starts there and its deployments are in the past, as in life.
pub fn next_monday() -> NaiveDate {
    let today = Utc::now().date_naive();
    (1..=7).map(|d| today + Duration::days(d)).find(|d| d.weekday() == Weekday::Mon).unwrap()
}

/// What the template's schedules run at `now` (every 15 minutes): the crons at 08:00 and 20:00
/// on work days, `reconcile` otherwise.
pub fn default_hours_mode(now: DateTime<Utc>) -> Mode {
    let workday = now.weekday().num_days_from_monday() < 5;
    let cron = |h: u32| workday && now.hour() == h && now.minute() == 0;
    if cron(20) {
        Mode::ScaleDown
    } else if cron(8) {
        Mode::ScaleUp
    } else {
        Mode::Reconcile
    }
}

/// One request served by the app behind `group_dimension` (`targetgroup/<name>/<id>`) of
/// `lb_dimension` (`app/<name>/<id>`) at `now`, as the ALB publishes it.
pub async fn record_request(metrics: &cw::Client, group_dimension: &str, lb_dimension: &str, now: DateTime<Utc>) {
    let dimension = |name: &str, value: &str| cw::types::Dimension::builder().name(name).value(value).build();
    let datum = cw::types::MetricDatum::builder()
        .metric_name("RequestCount")
        .dimensions(dimension("TargetGroup", group_dimension))
        .dimensions(dimension("LoadBalancer", lb_dimension))
        .timestamp(cw::primitives::DateTime::from_secs(now.timestamp()))
        .value(1.0)
        .build();
    metrics.put_metric_data().namespace("AWS/ApplicationELB").metric_data(datum).send().await.unwrap();
}
