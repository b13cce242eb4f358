//! Requests each target group served, from the load balancer's CloudWatch metrics
//! (`AWS/ApplicationELB` `RequestCount`, by `TargetGroup` and `LoadBalancer`), for idle sleep.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch as cw;
use chrono::{DateTime, Utc};

use super::{call_error, AwsFleet};
use crate::fleet::CallError;

/// `GetMetricData` takes at most 500 queries a call.
const METRIC_QUERIES_MAX: usize = 500;
/// Five-minute sums: a week's window stays far below the datapoints one call returns.
const METRIC_PERIOD_SECONDS: i32 = 300;

impl AwsFleet {
    /// `RequestCount` sums per target group, over each of its load balancers.
    pub(super) async fn elb_request_counts(
        &self,
        target_groups: &[String],
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<BTreeMap<String, u64>, CallError> {
        const OP: &str = "cloudwatch:GetMetricData";
        let mut counts: BTreeMap<String, u64> = target_groups.iter().map(|t| (t.clone(), 0)).collect();
        let pairs = self.metric_dimensions(target_groups).await?;
        let start = cw::primitives::DateTime::from_secs(since.timestamp());
        let end = cw::primitives::DateTime::from_secs(until.timestamp());
        for (batch, chunk) in pairs.chunks(METRIC_QUERIES_MAX).enumerate() {
            let queries: Vec<cw::types::MetricDataQuery> = chunk
                .iter()
                .enumerate()
                .map(|(i, (_, group, lb))| request_count_query(&format!("q{batch}x{i}"), group, lb))
                .collect();
            let mut pages = self
                .cloudwatch
                .get_metric_data()
                .set_metric_data_queries(Some(queries))
                .start_time(start)
                .end_time(end)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                self.count(OP);
                let page = page.map_err(|e| call_error(OP, e))?;
                for result in page.metric_data_results() {
                    let Some(i) =
                        result.id().and_then(|id| id.split_once('x')).and_then(|(_, i)| i.parse::<usize>().ok())
                    else {
                        continue;
                    };
                    let Some((arn, _, _)) = chunk.get(i) else { continue };
                    let sum: f64 = result.values().iter().sum();
                    *counts.entry(arn.clone()).or_insert(0) += sum.max(0.0).round() as u64;
                }
            }
        }
        Ok(counts)
    }

    /// Each target group's metric dimensions, once per load balancer it serves:
    /// `(arn, targetgroup/<name>/<id>, app/<name>/<id>)`.
    async fn metric_dimensions(&self, target_groups: &[String]) -> Result<Vec<(String, String, String)>, CallError> {
        const GROUPS: &str = "elasticloadbalancing:DescribeTargetGroups";
        let mut pairs = Vec::new();
        for chunk in target_groups.chunks(20) {
            self.count(GROUPS);
            let out = self
                .elb
                .describe_target_groups()
                .set_target_group_arns(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| call_error(GROUPS, e))?;
            for g in out.target_groups() {
                let Some(arn) = g.target_group_arn() else { continue };
                let Some((_, group_dim)) = arn.split_once(":targetgroup/") else { continue };
                for lb in g.load_balancer_arns() {
                    if let Some((_, lb_dim)) = lb.split_once(":loadbalancer/") {
                        pairs.push((arn.to_string(), format!("targetgroup/{group_dim}"), lb_dim.to_string()));
                    }
                }
            }
        }
        Ok(pairs)
    }
}

/// Five-minute `RequestCount` sums of one target group behind one load balancer.
fn request_count_query(id: &str, group: &str, lb: &str) -> cw::types::MetricDataQuery {
    let dimension = |name: &str, value: &str| cw::types::Dimension::builder().name(name).value(value).build();
    let metric = cw::types::Metric::builder()
        .namespace("AWS/ApplicationELB")
        .metric_name("RequestCount")
        .dimensions(dimension("TargetGroup", group))
        .dimensions(dimension("LoadBalancer", lb))
        .build();
    let stat = cw::types::MetricStat::builder().metric(metric).period(METRIC_PERIOD_SECONDS).stat("Sum").build();
    cw::types::MetricDataQuery::builder().id(id).metric_stat(stat).return_data(true).build()
}

#[cfg(test)]
mod tests {
    use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
    use aws_sdk_elasticloadbalancingv2::operation::describe_target_groups::DescribeTargetGroupsOutput;
    use aws_smithy_mocks::{mock, mock_client};

    use super::*;
    use crate::fleet::{ReadFleet, ReadTraffic};
    use aws_sdk_elasticloadbalancingv2 as elb;

    const GROUP: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/pr-101-web/6d0ecf831eec9f09";
    const QUIET: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/pr-102-web/0123456789abcdef";
    const LB: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/previews/50dc6c495c0c9188";

    /// The request counts query names each target group and its load balancer as CloudWatch's
    /// `AWS/ApplicationELB` dimensions want them, and sums what comes back; a group without a
    /// datapoint served no request.
    #[tokio::test]
    async fn request_counts_ask_cloudwatch_by_target_group_and_load_balancer() {
        let groups = mock!(elb::Client::describe_target_groups).then_output(|| {
            let group =
                |arn: &str| elb::types::TargetGroup::builder().target_group_arn(arn).load_balancer_arns(LB).build();
            DescribeTargetGroupsOutput::builder().target_groups(group(GROUP)).target_groups(group(QUIET)).build()
        });
        let metrics = mock!(cw::Client::get_metric_data)
            .match_requests(|req| {
                let queries = req.metric_data_queries();
                let dims = |q: &cw::types::MetricDataQuery| {
                    let m = q.metric_stat().and_then(|s| s.metric());
                    let d: Vec<(String, String)> = m
                        .map(|m| {
                            m.dimensions()
                                .iter()
                                .map(|d| (d.name().unwrap_or_default().into(), d.value().unwrap_or_default().into()))
                                .collect()
                        })
                        .unwrap_or_default();
                    (
                        m.and_then(|m| m.namespace()).map(str::to_string),
                        m.and_then(|m| m.metric_name()).map(str::to_string),
                        d,
                    )
                };
                queries.len() == 2
                    && dims(&queries[0])
                        == (
                            Some("AWS/ApplicationELB".into()),
                            Some("RequestCount".into()),
                            vec![
                                ("TargetGroup".into(), "targetgroup/pr-101-web/6d0ecf831eec9f09".into()),
                                ("LoadBalancer".into(), "app/previews/50dc6c495c0c9188".into()),
                            ],
                        )
                    && queries.iter().all(|q| q.metric_stat().and_then(|s| s.stat()) == Some("Sum"))
            })
            .then_output(|| {
                GetMetricDataOutput::builder()
                    .metric_data_results(
                        cw::types::MetricDataResult::builder().id("q0x0").values(3.0).values(4.0).build(),
                    )
                    .metric_data_results(cw::types::MetricDataResult::builder().id("q0x1").build())
                    .build()
            });
        let elb = mock_client!(aws_sdk_elasticloadbalancingv2, [&groups]);
        let cloudwatch = mock_client!(aws_sdk_cloudwatch, [&metrics]);
        let config = aws_config::SdkConfig::builder().behavior_version(aws_config::BehaviorVersion::latest()).build();
        let fleet = AwsFleet::with_load_balancing(&config, elb, cloudwatch);
        let now = chrono::Utc::now();
        let counts = fleet
            .request_counts(&[GROUP.to_string(), QUIET.to_string()], now - chrono::Duration::minutes(90), now)
            .await
            .unwrap();
        assert_eq!(counts, [(GROUP.to_string(), 7), (QUIET.to_string(), 0)].into_iter().collect());
        assert_eq!(metrics.num_calls(), 1);
        assert_eq!(fleet.calls()["cloudwatch:GetMetricData"], 1);
    }
}
