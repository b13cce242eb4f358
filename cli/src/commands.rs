//! The subcommands: each reads (or, for `keep-alive` and `wake`, writes) through the library
//! and prints a table or JSON.

use std::process::ExitCode;

use aws_sdk_lambda::primitives::Blob;
use chrono::{DateTime, Duration, Utc};
use ecs_cost_saver::status::{self, Filter, KeepAliveChange, ServiceStatus, SetKeepAliveError, Transition};
use serde_json::{json, Value};

use crate::args::{By, Cli, Command, Target};
use crate::failure::{Code, Failure};
use crate::settings::{self, Session};
use crate::table::{Cell, Output};

/// How far ahead `status` and `explain` look for the next transition.
const LOOK_AHEAD_DAYS: i64 = 8;

pub async fn dispatch(cli: &Cli, out: &Output) -> Result<ExitCode, Failure> {
    let place = cli.place().map_err(|e| Failure::new(Code::Usage, e))?;
    let flags = cli.account.is_some() || cli.region.is_some();
    let session = settings::start(&cli.stack, cli.local_config, &place, flags).await?;
    let now = ecs_cost_saver::clock::now();
    match &cli.command {
        Command::Status { fleet, by } => {
            print_status(&session, out, &fleet.filter(), fleet.at.unwrap_or(now), *by).await
        }
        Command::Explain { target, at } => {
            let at = at.unwrap_or(now);
            let mut code = ExitCode::SUCCESS;
            for (cluster, service) in services_of(&session, target).await? {
                code = print_explain(&session, out, &cluster, &service, at).await?;
            }
            Ok(code)
        }
        Command::KeepAlive { target, hours, until, clear: _ } => {
            let change = match (hours, until) {
                (Some(h), _) => KeepAliveChange::Until(now + Duration::hours((*h).into())),
                (None, Some(t)) => KeepAliveChange::Until(*t),
                (None, None) => KeepAliveChange::Clear,
            };
            keep_alive(&session, out, &services_of(&session, target).await?, change, now).await
        }
        Command::Wake { target, tag, environment, hours, dry_run } => {
            let mut what = match (target, tag, environment) {
                (Some(arn), _, _) if arn.starts_with("arn:") => json!({"service": arn}),
                (Some(target), _, _) => match target.split_once('/') {
                    Some((cluster, service)) => json!({"cluster": cluster, "service": service}),
                    None => json!({"cluster": target}),
                },
                (None, Some((key, value)), _) => json!({"tag": {"key": key, "value": value}}),
                (None, None, Some(name)) => json!({"environment": name}),
                (None, None, None) => {
                    return Err(Failure::new(
                        Code::Usage,
                        "wake needs CLUSTER, CLUSTER/SERVICE, --tag KEY=VALUE or --environment NAME",
                    ))
                }
            };
            if session.sites.is_some() {
                // The hub's wake function looks in these targets only (an ARN says its own).
                if let Some(account) = &cli.account {
                    what["account"] = json!(account);
                }
                if let Some(region) = &cli.region {
                    what["region"] = json!(region);
                }
            }
            wake(&session, out, &cli.stack, what, *hours, *dry_run).await
        }
        Command::Next { hours, fleet } => {
            print_next(&session, out, &fleet.filter(), fleet.at.unwrap_or(now), *hours).await
        }
    }
}

/// The services a `CLUSTER/SERVICE` or environment target names.
async fn services_of(s: &Session, target: &Target) -> Result<Vec<(String, String)>, Failure> {
    match target {
        Target::Service(cluster, service) | Target::Arn { cluster, service, .. } => {
            Ok(vec![(cluster.clone(), service.clone())])
        }
        Target::Environment(name) => Ok(status::environment_members(s.one()?, &s.config, name).await?),
    }
}

async fn print_status(
    s: &Session,
    out: &Output,
    filter: &Filter,
    now: DateTime<Utc>,
    by: By,
) -> Result<ExitCode, Failure> {
    let horizon = Duration::days(LOOK_AHEAD_DAYS);
    let st = match &s.sites {
        None => status::status(&s.fleet, &s.config, now, filter, horizon).await?,
        Some(sites) => status::status_across(sites, &s.config, now, filter, horizon).await,
    };
    if st.services.is_empty() && s.sites.is_none() {
        require_cluster(s, filter).await?;
    }
    if out.json {
        print!("{}", out.json(&st));
        return targets_read(&st.targets_failed);
    }
    match by {
        By::Service => print!("{}", status_table(out, &st.services, now)),
        By::Environment => {
            // One table per environment (as `status` grouped them, by name) under its totals, then
            // the services in none.
            let rows_of = |e: Option<&status::EnvironmentStatus>| -> Vec<ServiceStatus> {
                let here = |r: &&ServiceStatus| match e {
                    Some(e) => {
                        r.environment.as_ref() == Some(&e.environment)
                            && (&r.account, &r.region) == (&e.account, &e.region)
                    }
                    None => r.environment.is_none(),
                };
                st.services.iter().filter(here).cloned().collect()
            };
            let mut groups: Vec<(String, Vec<ServiceStatus>)> = st
                .environments
                .iter()
                .map(|e| {
                    let at = match (&e.account, &e.region) {
                        (Some(a), Some(r)) => format!(" in {a}:{r}"),
                        _ => String::new(),
                    };
                    (format!("environment {}{at}: {}", e.environment, totals_text(&e.totals)), rows_of(Some(e)))
                })
                .collect();
            let alone = rows_of(None);
            if !alone.is_empty() {
                groups.push(("in no environment".into(), alone));
            }
            for (i, (line, rows)) in groups.iter().enumerate() {
                if i > 0 {
                    println!();
                }
                println!("{}", out.bold(line));
                print!("{}", status_table(out, rows, now));
            }
            if !groups.is_empty() {
                println!();
            }
        }
    }
    println!("{}", out.bold(&totals_text(&st.totals)));
    for w in st.warnings.iter().chain(st.services.iter().flat_map(|r| r.warnings.iter())) {
        println!("warning: {w}");
    }
    targets_read(&st.targets_failed)
}

/// Over TARGETS, what could be read was printed; a target that could not be read fails the
/// command (exit 1) by name.
fn targets_read(failed: &[String]) -> Result<ExitCode, Failure> {
    match failed {
        [] => Ok(ExitCode::SUCCESS),
        _ => Err(Failure::new(
            Code::Failed,
            format!("{} target(s) could not be read: {}", failed.len(), failed.join("; ")),
        )),
    }
}

fn totals_text(t: &status::Totals) -> String {
    let mut text = format!(
        "{} services: {} awake, {} asleep ({} tasks, ${:.2}/h avoided), {} kept alive",
        t.services, t.awake, t.asleep, t.asleep_tasks, t.hourly_usd_avoided, t.kept_alive
    );
    if t.not_estimated > 0 {
        text.push_str(&format!("; {} asleep without a price (EC2, Spot or unknown size)", t.not_estimated));
    }
    text
}

/// A `--cluster` that matched nothing must name a cluster that exists (exit 4 otherwise).
async fn require_cluster(s: &Session, filter: &Filter) -> Result<(), Failure> {
    match &filter.cluster {
        Some(cluster) => Ok(status::require_cluster(&s.fleet, cluster).await?),
        None => Ok(()),
    }
}

fn status_table(out: &Output, rows: &[ServiceStatus], now: DateTime<Utc>) -> String {
    // Over TARGETS every row says where it is.
    let located = rows.iter().any(|r| r.account.is_some());
    let rows = rows
        .iter()
        .map(|r| {
            let at = [&r.account, &r.region].map(|v| Cell::plain(v.clone().unwrap_or_default()));
            let cells = vec![
                Cell::plain(format!("{}/{}", r.cluster, r.service)),
                Cell::state(r.state),
                Cell::state(r.now),
                Cell::plain(next_text(r.next.as_ref(), now)),
                Cell::plain(r.keep_alive_until.clone().unwrap_or_else(|| "-".into())),
                Cell::plain(r.tasks.to_string()),
                Cell::plain(r.hourly_usd_avoided.map_or("-".into(), |usd| format!("${usd:.2}"))),
                Cell::plain(r.reason.clone()),
            ];
            match located {
                true => at.into_iter().chain(cells).collect(),
                false => cells,
            }
        })
        .collect();
    let head = ["SERVICE", "STATE", "NOW", "NEXT", "KEEP-ALIVE", "TASKS", "AVOIDED/H", "REASON"];
    match located {
        true => out.table(&[&["ACCOUNT", "REGION"][..], &head[..]].concat(), rows),
        false => out.table(&head, rows),
    }
}

fn next_text(next: Option<&Transition>, now: DateTime<Utc>) -> String {
    match next {
        None => "-".into(),
        Some(t) if t.at <= now => format!("{} now", t.to),
        Some(t) => format!("{} {}", t.to, t.local),
    }
}

async fn print_explain(
    s: &Session,
    out: &Output,
    cluster: &str,
    service: &str,
    at: DateTime<Utc>,
) -> Result<ExitCode, Failure> {
    let e = status::explain(s.one()?, &s.config, cluster, service, at).await?;
    if out.json {
        print!("{}", out.json(&e));
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}", out.bold(&format!("{cluster}/{service} at {}", at.to_rfc3339())));
    let rows = e
        .rules
        .iter()
        .enumerate()
        .map(|(i, (rule, found))| vec![Cell::plain(format!("{}.", i + 1)), Cell::plain(rule), Cell::plain(found)])
        .collect();
    print!("{}", out.table(&["", "RULE", "FOUND"], rows));
    println!("decision: {} ({})", e.action, e.reason);
    match e.next.first() {
        Some(t) => println!("next: {} ({})", next_text(Some(t), at), t.reason),
        None => println!("next: no change in the next {LOOK_AHEAD_DAYS} days"),
    }
    for w in &e.warnings {
        println!("warning: {w}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn keep_alive(
    s: &Session,
    out: &Output,
    services: &[(String, String)],
    change: KeepAliveChange,
    now: DateTime<Utc>,
) -> Result<ExitCode, Failure> {
    let mut rows = Vec::new();
    for (cluster, service) in services {
        rows.push(keep_alive_one(s, cluster, service, change, now).await?);
    }
    if out.json {
        match rows.as_slice() {
            [one] => print!("{}", out.json(one)),
            _ => print!("{}", out.json(&rows)),
        }
    } else {
        print!("{}", status_table(out, &rows, now));
    }
    Ok(ExitCode::SUCCESS)
}

async fn keep_alive_one(
    s: &Session,
    cluster: &str,
    service: &str,
    change: KeepAliveChange,
    now: DateTime<Utc>,
) -> Result<ServiceStatus, Failure> {
    status::set_keep_alive(s.one()?, &s.config, cluster, service, change, now).await.map_err(|e| match e {
        SetKeepAliveError::Lookup(lookup) => lookup.into(),
        SetKeepAliveError::Protected(..) | SetKeepAliveError::NotManaged(..) => {
            Failure::new(Code::Refused, e.to_string())
        }
        SetKeepAliveError::Invalid(_) => Failure::new(Code::Usage, e.to_string()),
        SetKeepAliveError::Call(call) => call.into(),
    })
}

async fn wake(
    s: &Session,
    out: &Output,
    stack: &str,
    mut payload: Value,
    hours: u32,
    dry_run: bool,
) -> Result<ExitCode, Failure> {
    payload["hours"] = json!(hours);
    if dry_run {
        payload["dry_run"] = json!(true);
    }
    let function = format!("{stack}-wake");
    let answer =
        s.lambda.invoke().function_name(&function).payload(Blob::new(payload.to_string())).send().await.map_err(
            |e| match e.as_service_error() {
                Some(se) if se.is_resource_not_found_exception() => Failure::new(
                    Code::NotFound,
                    format!("no function {function} (set --stack or ECS_COST_SAVER_STACK)"),
                ),
                _ => Failure::new(Code::Failed, format!("invoking {function} failed: {}", e.into_service_error())),
            },
        )?;
    let raw = answer.payload().map(|p| String::from_utf8_lossy(p.as_ref()).into_owned()).unwrap_or_default();
    let Ok(body) = serde_json::from_str::<Value>(&raw) else {
        let what = if answer.function_error().is_some() { "failed and answered" } else { "answered" };
        return Err(Failure::new(
            Code::Failed,
            format!("{function} {what} with something that is not JSON: {}", cut(&raw)),
        ));
    };
    if answer.function_error().is_some() {
        let kind = body["errorType"].as_str().unwrap_or("Unhandled").to_string();
        let message = body["errorMessage"].as_str().unwrap_or("no message").to_string();
        let code = match kind.as_str() {
            "NotFound" => Code::NotFound,
            "Protected" | "NotManaged" => Code::Refused,
            "InvalidPayload" => Code::Usage,
            _ => Code::Failed,
        };
        return Err(Failure::new(code, format!("{function}: {kind}: {message}")));
    }
    if out.json {
        print!("{}", out.json(&body));
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", wake_table(out, &body));
    Ok(ExitCode::SUCCESS)
}

/// A function's raw answer as an error line repeats it: a few hundred characters at most.
fn cut(raw: &str) -> String {
    match raw {
        "" => "(an empty answer)".into(),
        _ => ecs_cost_saver::text::cut(raw, 300),
    }
}

fn wake_table(out: &Output, report: &Value) -> String {
    let capacity = |c: &Value| match (c["min"].as_u64(), c["max"].as_u64()) {
        (Some(min), Some(max)) => format!("{} [{min}..{max}]", c["desired"]),
        _ => c["desired"].to_string(),
    };
    let empty = Vec::new();
    let rows = report["services"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .map(|r| {
            vec![
                Cell::plain(format!(
                    "{}/{}",
                    r["cluster"].as_str().unwrap_or("?"),
                    r["service"].as_str().unwrap_or("?")
                )),
                Cell::state(r["action"].as_str().unwrap_or("?")),
                Cell::plain(format!("{} -> {}", capacity(&r["from"]), capacity(&r["to"]))),
                Cell::plain(r["error"].as_str().or(r["reason"].as_str()).unwrap_or_default()),
            ]
        })
        .collect();
    let mut text = out.table(&["SERVICE", "ACTION", "DESIRED", "REASON"], rows);
    let kept: Vec<String> = report["kept_alive"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .map(|k| {
            let note = if k["written"].as_bool() == Some(false) { " (already longer)" } else { "" };
            format!("{}/{}{note}", k["cluster"].as_str().unwrap_or("?"), k["service"].as_str().unwrap_or("?"))
        })
        .collect();
    if !kept.is_empty() {
        text.push_str(&out.bold(&format!(
            "kept awake until {}: {}",
            report["until"].as_str().unwrap_or("?"),
            kept.join(", ")
        )));
        text.push('\n');
    }
    text
}

async fn print_next(
    s: &Session,
    out: &Output,
    filter: &Filter,
    now: DateTime<Utc>,
    hours: u32,
) -> Result<ExitCode, Failure> {
    let horizon = Duration::hours(hours.into());
    let (all, failed) = match &s.sites {
        None => (status::upcoming(&s.fleet, &s.config, now, filter, horizon).await?, Vec::new()),
        Some(sites) => status::upcoming_across(sites, &s.config, now, filter, horizon).await,
    };
    if all.is_empty() && s.sites.is_none() {
        require_cluster(s, filter).await?;
    }
    if out.json {
        print!("{}", out.json(&all));
        return targets_read(&failed);
    }
    if all.is_empty() {
        println!("no transitions in the next {hours} hours");
        return targets_read(&failed);
    }
    let mut days: Vec<(String, Vec<Vec<Cell>>)> = Vec::new();
    for u in &all {
        let day = u.transition.at.format("%a %Y-%m-%d (UTC)").to_string();
        let when = if u.transition.at <= now { "now".to_string() } else { u.transition.at.format("%H:%M").to_string() };
        let row = vec![
            Cell::plain(when),
            Cell::state(u.transition.to),
            Cell::plain(format!("{}/{}", u.cluster, u.service)),
            Cell::plain(u.transition.local.clone()),
            Cell::plain(u.transition.reason.clone()),
        ];
        let row = match s.sites.is_some() {
            true => [&u.account, &u.region]
                .map(|v| Cell::plain(v.clone().unwrap_or_default()))
                .into_iter()
                .chain(row)
                .collect(),
            false => row,
        };
        match days.last_mut() {
            Some((d, rows)) if *d == day => rows.push(row),
            _ => days.push((day, vec![row])),
        }
    }
    for (i, (day, rows)) in days.into_iter().enumerate() {
        if i > 0 {
            println!();
        }
        println!("{}", out.bold(&day));
        let head = ["UTC", "TO", "SERVICE", "LOCAL", "REASON"];
        match s.sites.is_some() {
            true => print!("{}", out.table(&[&["ACCOUNT", "REGION"][..], &head[..]].concat(), rows)),
            false => print!("{}", out.table(&head, rows)),
        }
    }
    targets_read(&failed)
}
