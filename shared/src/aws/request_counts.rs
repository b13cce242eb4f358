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

/// What CloudWatch answered for one query, over every page.
#[derive(Debug, Clone, Copy, Default)]
struct Answer {
    sum: f64,
    /// The last page's status for it was `Complete` and it carried no message.
    complete: bool,
}

impl AwsFleet {
    /// `RequestCount` sums per target group, over each of its load balancers. A group is in the
    /// answer only when CloudWatch answered for every one of its (target group, load balancer)
    /// queries with `StatusCode: Complete` and no message: a missing result, `PartialData`,
    /// `InternalError`, a result for an id never asked, or `Messages` make it *unknown*, never 0
    /// (a busy service must not look idle). Only Application Load Balancers are asked: a Network
    /// Load Balancer's target group has no `RequestCount`, so it is unknown too.
    pub(super) async fn elb_request_counts(
        &self,
        target_groups: &[String],
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<BTreeMap<String, u64>, CallError> {
        let pairs = self.metric_dimensions(target_groups).await?;
        let start = cw::primitives::DateTime::from_secs(since.timestamp());
        let end = cw::primitives::DateTime::from_secs(until.timestamp());
        let mut answers: Vec<Option<Answer>> = vec![None; pairs.len()];
        for (batch, chunk) in pairs.chunks(METRIC_QUERIES_MAX).enumerate() {
            let queries: Vec<cw::types::MetricDataQuery> = chunk
                .iter()
                .enumerate()
                .map(|(i, (_, group, lb))| request_count_query(&format!("q{batch}x{i}"), group, lb))
                .collect();
            let first = batch * METRIC_QUERIES_MAX;
            self.metric_answers(queries, start, end, &mut answers[first..first + chunk.len()]).await?;
        }
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut unknown: Vec<&String> = Vec::new();
        for ((arn, _, _), answer) in pairs.iter().zip(answers) {
            match answer {
                Some(Answer { sum, complete: true }) => {
                    *counts.entry(arn.clone()).or_insert(0) += sum.max(0.0).round() as u64;
                }
                _ => unknown.push(arn),
            }
        }
        for arn in unknown {
            counts.remove(arn);
        }
        Ok(counts)
    }

    /// One `GetMetricData` call (all its pages) for these queries, named `q<batch>x<i>`; each
    /// answer lands at `answers[i]`.
    async fn metric_answers(
        &self,
        queries: Vec<cw::types::MetricDataQuery>,
        start: cw::primitives::DateTime,
        end: cw::primitives::DateTime,
        answers: &mut [Option<Answer>],
    ) -> Result<(), CallError> {
        const OP: &str = "cloudwatch:GetMetricData";
        let mut pages = self
            .cloudwatch
            .get_metric_data()
            .set_metric_data_queries(Some(queries))
            .start_time(start)
            .end_time(end)
            .into_paginator()
            .send();
        let mut troubled = false;
        while let Some(page) = pages.next().await {
            self.count(OP);
            let page = page.map_err(|e| call_error(OP, e))?;
            // A message for the whole call (e.g. a limit reached) leaves every answer in doubt.
            troubled |= !page.messages().is_empty();
            for result in page.metric_data_results() {
                let index = result.id().and_then(|id| id.split_once('x')).and_then(|(_, i)| i.parse::<usize>().ok());
                let Some(answer) = index.and_then(|i| answers.get_mut(i)) else { continue };
                let a = answer.get_or_insert_with(Answer::default);
                a.sum += result.values().iter().sum::<f64>();
                a.complete =
                    result.status_code() == Some(&cw::types::StatusCode::Complete) && result.messages().is_empty();
            }
        }
        if troubled {
            answers.iter_mut().flatten().for_each(|a| a.complete = false);
        }
        Ok(())
    }

    /// Each target group's metric dimensions, once per Application Load Balancer it serves:
    /// `(arn, targetgroup/<name>/<id>, app/<name>/<id>)`.
    async fn metric_dimensions(&self, target_groups: &[String]) -> Result<Vec<(String, String, String)>, CallError> {
        let mut pairs = Vec::new();
        for (arn, lbs) in self.elb_load_balancers_of(target_groups).await? {
            let Some((_, group_dim)) = arn.split_once(":targetgroup/") else { continue };
            for lb in lbs {
                match lb.split_once(":loadbalancer/") {
                    Some((_, lb_dim)) if lb_dim.starts_with("app/") => {
                        pairs.push((arn.clone(), format!("targetgroup/{group_dim}"), lb_dim.to_string()))
                    }
                    _ => {}
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
                        cw::types::MetricDataResult::builder()
                            .id("q0x0")
                            .values(3.0)
                            .values(4.0)
                            .status_code(cw::types::StatusCode::Complete)
                            .build(),
                    )
                    .metric_data_results(
                        cw::types::MetricDataResult::builder()
                            .id("q0x1")
                            .status_code(cw::types::StatusCode::Complete)
                            .build(),
                    )
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

    /// `GROUP` behind `lb`, and CloudWatch answering `answer` to whatever is asked.
    async fn counts_when(lb: &str, answer: GetMetricDataOutput) -> (Option<u64>, usize) {
        let lb = lb.to_string();
        let groups = mock!(elb::Client::describe_target_groups).then_output(move || {
            DescribeTargetGroupsOutput::builder()
                .target_groups(
                    elb::types::TargetGroup::builder().target_group_arn(GROUP).load_balancer_arns(&lb).build(),
                )
                .build()
        });
        let metrics = mock!(cw::Client::get_metric_data).then_output(move || answer.clone());
        let elb = mock_client!(aws_sdk_elasticloadbalancingv2, [&groups]);
        let cloudwatch = mock_client!(aws_sdk_cloudwatch, [&metrics]);
        let config = aws_config::SdkConfig::builder().behavior_version(aws_config::BehaviorVersion::latest()).build();
        let fleet = AwsFleet::with_load_balancing(&config, elb, cloudwatch);
        let now = chrono::Utc::now();
        let counts =
            fleet.request_counts(&[GROUP.to_string()], now - chrono::Duration::minutes(90), now).await.unwrap();
        (counts.get(GROUP).copied(), metrics.num_calls())
    }

    fn result(id: &str, values: &[f64], status: cw::types::StatusCode) -> cw::types::MetricDataResult {
        cw::types::MetricDataResult::builder().id(id).set_values(Some(values.to_vec())).status_code(status).build()
    }

    /// Issue 17, item 1: a service that served 132 requests was idle-slept when CloudWatch's
    /// answer was anything but complete. Each such shape now leaves its group unknown (absent),
    /// never 0; only a complete answer counts, even one with no datapoint.
    #[tokio::test]
    async fn anything_but_a_complete_answer_leaves_the_requests_unknown() {
        use cw::types::{MessageData, StatusCode};
        let output = |results: Vec<cw::types::MetricDataResult>| {
            GetMetricDataOutput::builder().set_metric_data_results(Some(results)).build()
        };
        let cases = [
            ("InternalError", output(vec![result("q0x0", &[], StatusCode::InternalError)])),
            ("PartialData without values", output(vec![result("q0x0", &[], StatusCode::PartialData)])),
            ("PartialData with some values", output(vec![result("q0x0", &[2.0], StatusCode::PartialData)])),
            ("no results", output(vec![])),
            ("a result for an id never asked", output(vec![result("q0x7", &[132.0], StatusCode::Complete)])),
            ("a result without an id", output(vec![cw::types::MetricDataResult::builder().build()])),
            (
                "messages only",
                GetMetricDataOutput::builder()
                    .messages(MessageData::builder().code("MaxQueryTimeRangeExceed").value("too long").build())
                    .build(),
            ),
            (
                "a complete result with a message for the call",
                GetMetricDataOutput::builder()
                    .metric_data_results(result("q0x0", &[], StatusCode::Complete))
                    .messages(MessageData::builder().code("Throttled").value("partial").build())
                    .build(),
            ),
            (
                "a complete result carrying its own message",
                output(vec![cw::types::MetricDataResult::builder()
                    .id("q0x0")
                    .status_code(StatusCode::Complete)
                    .messages(MessageData::builder().code("ArithmeticError").value("x").build())
                    .build()]),
            ),
            ("a status this SDK does not know", output(vec![result("q0x0", &[], StatusCode::from("Forbidden"))])),
            ("no status at all", output(vec![cw::types::MetricDataResult::builder().id("q0x0").build()])),
        ];
        for (what, answer) in cases {
            assert_eq!(counts_when(LB, answer).await, (None, 1), "{what}");
        }
        let silent = output(vec![result("q0x0", &[], StatusCode::Complete)]);
        assert_eq!(counts_when(LB, silent).await, (Some(0), 1), "complete and no datapoint: served none");
        let busy = output(vec![result("q0x0", &[100.0, 32.0], StatusCode::Complete)]);
        assert_eq!(counts_when(LB, busy).await, (Some(132), 1));
    }

    /// Issue 17, item 1: a Network Load Balancer's target group has no `RequestCount`; it looked
    /// idle and its service slept for 20 hours. It is not asked about, and stays unknown.
    #[tokio::test]
    async fn a_network_load_balancer_s_target_group_is_never_counted() {
        let nlb = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/tcp-previews/50dc6c495c0c9188";
        let answer = GetMetricDataOutput::builder().build();
        assert_eq!(counts_when(nlb, answer).await, (None, 0), "no GetMetricData for an NLB's group");
    }
}
