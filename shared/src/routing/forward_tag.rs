//! A rule's original forward, kept in the rule's own tags while it forwards to the waker.
//!
//! Elastic Load Balancing tag values hold at most 256 characters of letters, digits, spaces and
//! `+ - = . _ : / @`, so no JSON: the forward is written as space-separated words, a target group
//! ARN each (`<arn>=<weight>` in a weighted forward) and `sticky=<seconds>` for stickiness, cut
//! into as many tags as it needs (`<key>-forward`, `<key>-forward-2`, …). ARNs are made of
//! letters, digits, `:`, `/` and `-`, so they need no escaping.

use crate::model::{Forward, Tags};

/// Characters in one tag value.
const VALUE_MAX: usize = 256;
/// Tags one forward may take: five weighted target groups of the longest ARNs fit in three.
const CHUNKS_MAX: usize = 4;

/// The keys of a forward's tags, in order, for the routing key `key` (`cost-saver:wakes`).
pub fn forward_keys(key: &str) -> Vec<String> {
    (1..=CHUNKS_MAX).map(|i| if i == 1 { format!("{key}-forward") } else { format!("{key}-forward-{i}") }).collect()
}

/// The tags that keep `forward`; `Err` when it cannot be kept exactly.
pub fn encode(key: &str, forward: &Forward) -> Result<Vec<(String, String)>, String> {
    if forward.groups.is_empty() {
        return Err("a forward without target groups".into());
    }
    let mut words: Vec<String> = Vec::new();
    for (group, weight) in &forward.groups {
        if !is_target_group_arn(group) {
            return Err(format!("`{}` is not a target group ARN", crate::text::echo(group)));
        }
        words.push(match weight {
            Some(w) => format!("{group}={w}"),
            None => group.clone(),
        });
    }
    if let Some(s) = forward.sticky_seconds {
        words.push(format!("sticky={s}"));
    }
    let text = words.join(" ");
    let chunks: Vec<String> =
        text.as_bytes().chunks(VALUE_MAX).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    if chunks.len() > CHUNKS_MAX {
        return Err(format!("its forward needs {} characters, more than {} tags hold", text.len(), CHUNKS_MAX));
    }
    Ok(forward_keys(key).into_iter().zip(chunks).collect())
}

/// The forward kept in `tags`, if any; `Err` says what is wrong with a damaged one.
pub fn decode(key: &str, tags: &Tags) -> Option<Result<Forward, String>> {
    let mut text = String::new();
    for k in forward_keys(key) {
        match tags.get(&k) {
            Some(v) => text.push_str(v),
            None => break,
        }
    }
    if text.is_empty() {
        return None;
    }
    Some(parse(&text))
}

fn parse(text: &str) -> Result<Forward, String> {
    let mut forward = Forward::default();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        if let Some(seconds) = word.strip_prefix("sticky=") {
            let s: i32 = seconds.parse().map_err(|_| format!("stickiness `{}` is not a number", echo(seconds)))?;
            forward.sticky_seconds = Some(s);
            continue;
        }
        let (group, weight) = match word.rsplit_once('=') {
            Some((g, w)) => (g, Some(w.parse::<i32>().map_err(|_| format!("weight `{}` is not a number", echo(w)))?)),
            None => (word, None),
        };
        if !is_target_group_arn(group) {
            return Err(format!("`{}` is not a target group ARN", echo(group)));
        }
        forward.groups.push((group.to_string(), weight));
    }
    if forward.groups.is_empty() {
        return Err("no target group in it".into());
    }
    Ok(forward)
}

fn echo(s: &str) -> String {
    crate::text::echo(s)
}

fn is_target_group_arn(s: &str) -> bool {
    s.starts_with("arn:")
        && s.contains(":targetgroup/")
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TG: &str = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/pr-101-web/0123456789abcdef";

    fn tags(pairs: Vec<(String, String)>) -> Tags {
        pairs.into_iter().collect()
    }

    #[test]
    fn a_plain_forward_is_one_readable_tag_and_reads_back() {
        let written = encode("cost-saver:wakes", &Forward::to(TG)).unwrap();
        assert_eq!(written, vec![("cost-saver:wakes-forward".to_string(), TG.to_string())]);
        assert_eq!(decode("cost-saver:wakes", &tags(written)), Some(Ok(Forward::to(TG))));
    }

    #[test]
    fn a_weighted_sticky_forward_spans_tags_within_elb_limits_and_reads_back() {
        let groups = (0..5).map(|i| (format!("{TG}{i}"), Some(i * 10))).collect();
        let forward = Forward { groups, sticky_seconds: Some(3600) };
        let written = encode("cost-saver:wakes", &forward).unwrap();
        assert_eq!(written.len(), 2);
        for (k, v) in &written {
            assert!(v.len() <= 256, "{k} holds {} characters", v.len());
            let allowed = |c: char| c.is_alphanumeric() || " +-=._:/@".contains(c);
            assert!(v.chars().all(allowed), "{v}");
        }
        assert_eq!(decode("cost-saver:wakes", &tags(written)), Some(Ok(forward)));
    }

    #[test]
    fn a_damaged_forward_is_an_error_that_says_why_and_none_is_none() {
        let bad = tags(vec![("k-forward".into(), "arn:aws:ecs:x:1:service/a/b".into())]);
        assert!(decode("k", &bad).unwrap().unwrap_err().contains("not a target group ARN"));
        let weight = tags(vec![("k-forward".into(), format!("{TG}=heavy"))]);
        assert!(decode("k", &weight).unwrap().unwrap_err().contains("weight `heavy`"));
        assert_eq!(decode("k", &Tags::new()), None);
    }
}
