//! An Application Load Balancer on moto for the routing tests: a load balancer in moto's EC2
//! network (made with boto3, `ec2_network`), an HTTP listener on port 80 answering 404 by
//! default, and `ip` target groups in its VPC.

use aws_sdk_elasticloadbalancingv2 as elb;
use elb::types::{Action, ActionTypeEnum, FixedResponseActionConfig, ProtocolEnum, TargetTypeEnum};

use crate::{ec2_network, Moto};

pub struct Alb {
    pub vpc: String,
    pub balancer: String,
    pub listener: String,
}

/// The load balancer `previews` and its port-80 listener.
pub async fn previews(moto: &Moto, lb: &elb::Client) -> Alb {
    let (vpc, subnets) = ec2_network(moto);
    let balancer = lb.create_load_balancer().name("previews").set_subnets(Some(subnets)).send().await.unwrap();
    let balancer = balancer.load_balancers()[0].load_balancer_arn().unwrap().to_string();
    let not_found = Action::builder()
        .r#type(ActionTypeEnum::FixedResponse)
        .fixed_response_config(FixedResponseActionConfig::builder().status_code("404").build())
        .build();
    let listener = lb
        .create_listener()
        .load_balancer_arn(&balancer)
        .port(80)
        .protocol(ProtocolEnum::Http)
        .default_actions(not_found)
        .send()
        .await
        .unwrap();
    let listener = listener.listeners()[0].listener_arn().unwrap().to_string();
    Alb { vpc, balancer, listener }
}

/// An HTTP `ip` target group in the load balancer's VPC; its ARN.
pub async fn target_group(lb: &elb::Client, alb: &Alb, name: &str) -> String {
    let out = lb
        .create_target_group()
        .name(name)
        .protocol(ProtocolEnum::Http)
        .port(80)
        .vpc_id(&alb.vpc)
        .target_type(TargetTypeEnum::Ip)
        .send()
        .await
        .unwrap();
    out.target_groups()[0].target_group_arn().unwrap().to_string()
}
