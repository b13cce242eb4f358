//! The part of the waking page that shows an environment's progress: each member and how far it
//! is, how long this tab has waited, until when it stays awake (in the viewer's time zone), and the
//! keep-awake buttons.

use super::click::{FIELD, HOURS_FIELD};
use super::page::escape;
use super::progress::{Progress, State};

pub(super) const STYLE: &str = "ul.members{list-style:none;padding:0;margin:1.2em 0}\
ul.members li{display:flex;justify-content:space-between;flex-wrap:wrap;gap:.3em 1em;padding:.5em 0;border-bottom:1px solid #eee}\
ul.members .name{font-weight:600;overflow-wrap:anywhere}\
.state{color:#555}.state.running{color:#1a7f37}.state.starting{color:#9a6700}.state.asleep,.state.waiting{color:#777}\
form.keep{display:flex;flex-wrap:wrap;gap:.5em;margin-top:1em}form.keep button{font-size:1em;padding:.5em 1em;background:#fff;color:#2a6}";

/// The member list, the times and the keep-awake buttons.
pub(super) fn render(p: &Progress, back: &str) -> String {
    let mut html = String::from(r#"<ul class="members">"#);
    for m in &p.members {
        let class = match m.state {
            State::Asleep => "asleep",
            State::WaitingFor(_) => "waiting",
            State::Starting { .. } => "starting",
            State::Running { .. } => "running",
        };
        html.push_str(&format!(
            r#"<li><span class="name">{}</span><span class="state {class}">{}</span></li>"#,
            escape(&m.name),
            escape(&m.state.to_string())
        ));
    }
    html.push_str("</ul>");
    let key = escape(p.environment.as_deref().or(p.members.first().map(|m| m.name.as_str())).unwrap_or(""));
    html.push_str(&format!(
        r#"<p class="since" data-key="{key}">Waiting for <span id="csw-since">a moment</span>.</p>"#
    ));
    if let Some(until) = p.until {
        let iso = until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        html.push_str(&format!(
            r#"<p class="until">Stays awake until <time id="csw-until" datetime="{iso}">{}</time>.</p>"#,
            until.format("%a %H:%M UTC")
        ));
    }
    if let Some(token) = &p.token {
        html.push_str(&format!(
            r#"<form class="keep" method="post" action="{back}"><input type="hidden" name="{FIELD}" value="{token}">"#,
            back = escape(back),
            token = escape(token)
        ));
        for hours in [1, 4].into_iter().filter(|h| *h <= p.max_hours) {
            html.push_str(&format!(
                r#"<button type="submit" name="{HOURS_FIELD}" value="{hours}">Keep awake +{hours} h</button>"#
            ));
        }
        html.push_str(&format!(
            r#"<button type="submit" id="csw-tonight" name="{HOURS_FIELD}" value="{}" data-max="{}">Until tonight</button></form>"#,
            p.tonight_hours, p.max_hours
        ));
    }
    html.push_str(SCRIPT);
    html
}

/// Shows the times in the viewer's zone, counts how long this tab has waited (across the page's
/// reloads) and makes "until tonight" mean the viewer's midnight.
const SCRIPT: &str = r#"<script>(function(){
var u=document.getElementById("csw-until");
if(u){u.textContent=new Date(u.getAttribute("datetime")).toLocaleString([],{weekday:"short",hour:"2-digit",minute:"2-digit"});}
var s=document.querySelector("p.since"),k="csw-since:"+(s?s.getAttribute("data-key"):""),now=Date.now(),t=now;
try{t=Number(sessionStorage.getItem(k))||now;sessionStorage.setItem(k,String(t));}catch(e){}
var secs=Math.round((now-t)/1000),el=document.getElementById("csw-since");
if(el){el.textContent=secs<60?secs+" s":Math.floor(secs/60)+" min "+(secs%60)+" s";}
var b=document.getElementById("csw-tonight");
if(b){var m=new Date();m.setHours(24,0,0,0);var h=Math.max(1,Math.ceil((m-now)/3600000));b.value=String(Math.min(h,Number(b.getAttribute("data-max"))||h));}
})();</script>"#;
