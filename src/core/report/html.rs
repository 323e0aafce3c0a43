//! The report as one self-contained HTML file that prints on A4: the key figures, four
//! inline SVG charts (tickets opened per week, first-contact promises kept and missed per
//! week, hours worked per customer, extra interventions per customer) and the table. No
//! external asset, no script: it opens the same in a browser, a mail client or a printer.
//! Every text from the data is escaped.

use std::fmt::Write;

use chrono::{DateTime, Datelike, Utc};

use super::text::kept;
use super::{hours, month_name, rome_minute, Report, Row};
use crate::core::templates::euro;
use crate::core::texts;

const GREEN: &str = "#2e7d32";
const RED: &str = "#c62828";
const BLUE: &str = "#1565c0";
const ORANGE: &str = "#ef6c00";

const STYLE: &str = "
@page { size: A4; margin: 14mm; }
* { box-sizing: border-box; }
body { font-family: 'DejaVu Sans', Arial, sans-serif; color: #222; margin: 0 auto;
       max-width: 190mm; font-size: 10pt; }
h1 { font-size: 17pt; margin: 0 0 2mm; }
h2 { font-size: 11pt; margin: 0 0 1mm; }
.sub { color: #666; margin: 0 0 4mm; }
.keys { display: flex; gap: 3mm; margin-bottom: 4mm; }
.key { flex: 1; border: 1px solid #ccc; border-radius: 2mm; padding: 2mm 3mm; }
.key b { display: block; font-size: 13pt; white-space: nowrap; }
.key { font-size: 8.5pt; }
.key.ok b { color: #2e7d32; } .key.ko b { color: #c62828; }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 4mm; margin-bottom: 4mm; }
.chart { border: 1px solid #ddd; border-radius: 2mm; padding: 2mm; break-inside: avoid; }
svg { width: 100%; height: auto; display: block; }
svg text { font-family: 'DejaVu Sans', Arial, sans-serif; font-size: 11px; fill: #333; }
table { border-collapse: collapse; width: 100%; font-size: 8pt; break-inside: auto; }
th, td { border-bottom: 1px solid #ddd; padding: 1mm 1.2mm; text-align: right; }
td { white-space: nowrap; } td:first-child { white-space: normal; }
th { font-size: 7.5pt; vertical-align: bottom; }
th:first-child, td:first-child { text-align: left; }
th { background: #f0f0f0; font-weight: 600; }
tr.total td { font-weight: 700; border-top: 2px solid #999; }
tr { break-inside: avoid; }
.legend { color: #666; font-size: 8pt; margin-top: 2mm; }
";

/// `&`, `<`, `>`, `\"` and `'` as entities: data goes into text and attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The whole page; `now` is when it was made, as its header says.
pub fn render(report: &Report, now: DateTime<Utc>) -> String {
    let title = format!("Rapporto di assistenza — {}", month_name(report.month));
    let made = rome_minute(now);
    let mut page = format!(
        "<!DOCTYPE html>\n<html lang=\"it\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{t}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{t}</h1>\n\
         <p class=\"sub\">Generato il {made} (ora di Roma). Ogni dato conta nel mese in cui \
         è avvenuto.</p>\n",
        t = escape(&title),
    );
    page.push_str(&keys(&report.totals));
    page.push_str("<div class=\"charts\">\n");
    for chart in [
        weekly_opened(report),
        weekly_first_contact(report),
        per_customer(report, "Ore lavorate per cliente", BLUE, |r| {
            (r.minutes_worked, hours(r.minutes_worked))
        }),
        per_customer(report, "Interventi extra per cliente", ORANGE, |r| {
            let n = i64::from(r.extra_interventions);
            (n, format!("{n} ({})", hours(r.extra_minutes)))
        }),
    ] {
        page.push_str(&chart);
    }
    page.push_str("</div>\n");
    page.push_str(&table(report));
    page.push_str("</body>\n</html>\n");
    page
}

/// The key figures, the two promises in green when all were kept and red otherwise.
fn keys(t: &Row) -> String {
    let promise = |name: &str, met: u32, missed: u32| {
        let class = if missed == 0 { "ok" } else { "ko" };
        format!(
            "<div class=\"key {class}\">{name}<b>{}</b></div>",
            escape(&kept(met, missed))
        )
    };
    format!(
        "<div class=\"keys\">\n<div class=\"key\">Ticket aperti<b>{}</b></div>\
         <div class=\"key\">Tempo lavorato<b>{}</b></div>\
         <div class=\"key\">Preventivi accettati<b>{}</b></div>{}{}\n</div>\n",
        t.tickets_opened,
        escape(&hours(t.minutes_worked)),
        escape(&euro(t.quotes_accepted_cents)),
        promise(
            "Primo contatto nei tempi",
            t.first_contact_met,
            t.first_contact_missed
        ),
        promise("Presa in carico entro 30 min", t.ack_within_30m, t.ack_late),
    )
}

/// `dal 2/11`.
fn week_label(day: chrono::NaiveDate) -> String {
    texts::article(&format!("{}/{}", day.day(), day.month()), "dal ", "dall'")
}

fn weekly_opened(report: &Report) -> String {
    let bars: Vec<(String, Vec<(i64, &str)>)> = report
        .weeks
        .iter()
        .map(|w| (week_label(w.from), vec![(i64::from(w.opened), BLUE)]))
        .collect();
    chart("Ticket aperti per settimana", &columns(&bars), "")
}

fn weekly_first_contact(report: &Report) -> String {
    let bars: Vec<(String, Vec<(i64, &str)>)> = report
        .weeks
        .iter()
        .map(|w| {
            let stack = vec![
                (i64::from(w.first_contact_met), GREEN),
                (i64::from(w.first_contact_missed), RED),
            ];
            (week_label(w.from), stack)
        })
        .collect();
    let legend = format!(
        "<span style=\"color:{GREEN}\">■</span> nei tempi \
         <span style=\"color:{RED}\">■</span> mancati"
    );
    chart(
        "Primo contatto per settimana: nei tempi e mancati",
        &columns(&bars),
        &legend,
    )
}

/// Customers by `value` (largest first), as horizontal bars labelled with `value`'s text.
fn per_customer(
    report: &Report,
    title: &str,
    color: &str,
    value: impl Fn(&Row) -> (i64, String),
) -> String {
    let mut items: Vec<(String, i64, String)> = report
        .rows
        .iter()
        .map(|r| {
            let (v, label) = value(r);
            (r.customer.clone(), v, label)
        })
        .filter(|(_, v, _)| *v > 0)
        .collect();
    items.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    items.truncate(12);
    chart(title, &rows_svg(&items, color), "")
}

fn chart(title: &str, svg: &str, legend: &str) -> String {
    let legend = if legend.is_empty() {
        String::new()
    } else {
        format!("<div class=\"legend\">{legend}</div>")
    };
    format!(
        "<div class=\"chart\"><h2>{}</h2>\n{svg}{legend}</div>\n",
        escape(title)
    )
}

/// Vertical bars, each a stack of (value, colour), with its label under it.
fn columns(bars: &[(String, Vec<(i64, &str)>)]) -> String {
    let (w, h, base, top) = (340.0, 190.0, 160.0, 18.0);
    let max = bars
        .iter()
        .map(|(_, s)| s.iter().map(|(v, _)| v).sum::<i64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = (w - 20.0) / bars.len().max(1) as f64;
    let scale = (base - top) / max as f64;
    let mut svg = format!(
        "<svg viewBox=\"0 0 {w} {h}\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\">\
         <line x1=\"10\" y1=\"{base}\" x2=\"{x2}\" y2=\"{base}\" stroke=\"#999\"/>",
        x2 = w - 10.0
    );
    for (i, (label, stack)) in bars.iter().enumerate() {
        let x = 10.0 + slot * i as f64 + slot * 0.2;
        let mut y = base;
        for (value, color) in stack.iter().filter(|(v, _)| *v > 0) {
            let height = *value as f64 * scale;
            y -= height;
            let _ = write!(
                svg,
                "<rect class=\"bar\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bw:.1}\" \
                 height=\"{height:.1}\" fill=\"{color}\"/>",
                bw = slot * 0.6
            );
        }
        let total: i64 = stack.iter().map(|(v, _)| v).sum();
        let cx = x + slot * 0.3;
        let _ = write!(
            svg,
            "<text x=\"{cx:.1}\" y=\"{ty:.1}\" text-anchor=\"middle\">{total}</text>\
             <text x=\"{cx:.1}\" y=\"{ly:.1}\" text-anchor=\"middle\">{}</text>",
            escape(label),
            ty = y - 4.0,
            ly = base + 16.0,
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Horizontal bars: a customer's name, its bar and its value's text.
fn rows_svg(items: &[(String, i64, String)], color: &str) -> String {
    if items.is_empty() {
        return "<svg viewBox=\"0 0 340 40\" xmlns=\"http://www.w3.org/2000/svg\">\
                <text x=\"10\" y=\"24\">Nessun dato nel mese</text></svg>"
            .into();
    }
    let (w, row, name_w, value_w) = (340.0, 22.0, 110.0, 80.0);
    let h = row * items.len() as f64 + 8.0;
    let max = items.iter().map(|(_, v, _)| *v).max().unwrap_or(1).max(1) as f64;
    let room = w - name_w - value_w - 10.0;
    let mut svg =
        format!("<svg viewBox=\"0 0 {w} {h}\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\">");
    for (i, (name, value, label)) in items.iter().enumerate() {
        let y = 4.0 + row * i as f64;
        let len = (*value as f64 / max * room).max(1.0);
        // A long name is cut with an ellipsis; the whole one is the bar's tooltip.
        let short: String = if name.chars().count() > 16 {
            name.chars().take(15).chain(['…']).collect()
        } else {
            name.clone()
        };
        let _ = write!(
            svg,
            "<text x=\"{nx}\" y=\"{ty:.1}\" text-anchor=\"end\"><title>{full}</title>{short}</text>\
             <rect class=\"bar\" x=\"{bx}\" y=\"{y:.1}\" width=\"{len:.1}\" height=\"{bh:.1}\" \
             fill=\"{color}\"/><text x=\"{vx:.1}\" y=\"{ty:.1}\">{label}</text>",
            nx = name_w - 4.0,
            ty = y + row * 0.62,
            full = escape(name),
            short = escape(&short),
            bx = name_w,
            bh = row * 0.7,
            vx = name_w + len + 4.0,
            label = escape(label),
        );
    }
    svg.push_str("</svg>");
    svg
}

const HEADERS: [&str; 10] = [
    "Cliente",
    "Aperti / chiusi / riaperti",
    "Tempo lavorato",
    "Interventi extra",
    "Tempo extra",
    "Preventivi inviati / accettati / rifiutati",
    "Importo accettato",
    "1° contatto nei tempi / mancato",
    "Presa in carico ≤ 30 min / in ritardo",
    "Rifiutate (contratto)",
];

fn table_row(r: &Row, class: &str, name: &str) -> String {
    let cells = [
        escape(name),
        format!(
            "{} / {} / {}",
            r.tickets_opened, r.tickets_closed, r.reopened
        ),
        escape(&hours(r.minutes_worked)),
        r.extra_interventions.to_string(),
        escape(&hours(r.extra_minutes)),
        format!(
            "{} / {} / {}",
            r.quotes_sent, r.quotes_accepted, r.quotes_refused
        ),
        escape(&euro(r.quotes_accepted_cents)),
        format!("{} / {}", r.first_contact_met, r.first_contact_missed),
        format!("{} / {}", r.ack_within_30m, r.ack_late),
        r.refused_requests.to_string(),
    ];
    let mut out = format!("<tr class=\"{class}\">");
    for c in cells {
        let _ = write!(out, "<td>{c}</td>");
    }
    out.push_str("</tr>\n");
    out
}

fn table(report: &Report) -> String {
    let mut out = String::from("<table>\n<thead><tr>");
    for h in HEADERS {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for r in &report.rows {
        out.push_str(&table_row(r, "", &r.customer));
    }
    out.push_str(&table_row(&report.totals, "total", "Totale"));
    out.push_str(
        "</tbody>\n</table>\n<p class=\"legend\">Rifiutate (contratto): richieste respinte \
         perché il contratto era scaduto o disattivato, da proporre per il rinnovo.</p>\n",
    );
    out
}
