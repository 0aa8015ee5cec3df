//! Charts as SVG, drawn on the server: readable without JavaScript, escaped like the pages.
//!
//! Two kinds: [`columns`] (stacked columns over periods, with a legend) and [`bars`]
//! (horizontal bars for rankings). Both have axis titles with units and tick labels. Each
//! column is a `g.bar` and each ranking row a `g.bar`, so tests can count them.

use crate::{PeriodRow, Report, DELAY_BUCKETS};
use std::fmt::Write as _;

/// Escape text for SVG (XML) content and attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// A series of a stacked column chart.
pub struct Series<'a> {
    /// Legend label.
    pub name: &'a str,
    /// CSS class (colour).
    pub class: &'a str,
    /// One value per period.
    pub values: Vec<u64>,
}

/// A "nice" axis maximum and tick step for values up to `max`.
fn axis(max: u64) -> (u64, u64) {
    if max == 0 {
        return (1, 1);
    }
    let raw = max as f64 / 4.0;
    let mag = 10f64.powi(raw.log10().floor() as i32);
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
        .max(1.0) as u64;
    (max.div_ceil(step) * step, step)
}

const W: f64 = 680.0;
const H: f64 = 260.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 48.0;

/// Stacked columns: one per label, series stacked bottom-up. `x_title` and `y_title` name the
/// axes with their units; `every` shows every n-th x label (dense axes).
pub fn columns(
    id: &str,
    title: &str,
    labels: &[String],
    series: &[Series<'_>],
    x_title: &str,
    y_title: &str,
    every: usize,
) -> String {
    let n = labels.len().max(1);
    let totals: Vec<u64> = (0..labels.len())
        .map(|i| {
            series
                .iter()
                .map(|s| s.values.get(i).copied().unwrap_or(0))
                .sum()
        })
        .collect();
    let (ymax, step) = axis(totals.iter().copied().max().unwrap_or(0));
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let slot = plot_w / n as f64;
    let bar_w = (slot * 0.7).max(1.0);
    let y = |v: f64| TOP + plot_h - v / ymax as f64 * plot_h;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" id="{id}" viewBox="0 0 {W} {H}" role="img" aria-labelledby="{id}-title" xmlns="http://www.w3.org/2000/svg"><title id="{id}-title">{}</title>"#,
        esc(title)
    );
    // Grid and y ticks.
    let mut v = 0;
    while v <= ymax {
        let yy = y(v as f64);
        let _ = write!(
            s,
            r#"<line class="grid" x1="{LEFT}" x2="{}" y1="{yy:.1}" y2="{yy:.1}"/><text class="tick" x="{}" y="{:.1}" text-anchor="end">{v}</text>"#,
            W - RIGHT,
            LEFT - 6.0,
            yy + 4.0
        );
        v += step;
    }
    for (i, label) in labels.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar_w) / 2.0;
        let _ = write!(
            s,
            r#"<g class="bar" data-label="{}" data-value="{}"><title>{}: {}</title>"#,
            esc(label),
            totals[i],
            esc(label),
            series
                .iter()
                .map(|se| format!("{} {}", se.name, se.values.get(i).copied().unwrap_or(0)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut base = 0u64;
        for se in series {
            let val = se.values.get(i).copied().unwrap_or(0);
            if val > 0 {
                let top = y((base + val) as f64);
                let h = y(base as f64) - top;
                let _ = write!(
                    s,
                    r#"<rect class="{}" x="{x:.1}" y="{top:.1}" width="{bar_w:.1}" height="{h:.1}"/>"#,
                    esc(se.class)
                );
            }
            base += val;
        }
        s.push_str("</g>");
        if every <= 1 || i % every == 0 {
            let _ = write!(
                s,
                r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                x + bar_w / 2.0,
                TOP + plot_h + 14.0,
                esc(label)
            );
        }
    }
    let _ = write!(
        s,
        r#"<line class="axis" x1="{LEFT}" x2="{}" y1="{:.1}" y2="{:.1}"/><line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{:.1}"/>"#,
        W - RIGHT,
        TOP + plot_h,
        TOP + plot_h,
        TOP + plot_h
    );
    let _ = write!(
        s,
        r#"<text class="axis-title" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text class="axis-title" transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        LEFT + plot_w / 2.0,
        H - 8.0,
        esc(x_title),
        TOP + plot_h / 2.0,
        esc(y_title)
    );
    // Legend.
    let mut lx = LEFT;
    for se in series {
        let _ = write!(
            s,
            r#"<rect class="{}" x="{lx:.1}" y="8" width="10" height="10"/><text class="legend" x="{:.1}" y="17">{}</text>"#,
            esc(se.class),
            lx + 14.0,
            esc(se.name)
        );
        lx += 14.0 + 8.0 * se.name.len() as f64 + 18.0;
    }
    s.push_str("</svg>");
    s
}

/// Horizontal bars for a ranking: one row per `(label, value)`, longest first as given.
/// `x_title` names the value axis with its unit.
pub fn bars(id: &str, title: &str, rows: &[(String, u64)], x_title: &str, class: &str) -> String {
    const ROW: f64 = 22.0;
    const LABEL_W: f64 = 250.0;
    let h = TOP + ROW * rows.len().max(1) as f64 + BOTTOM - 8.0;
    let plot_w = W - LABEL_W - RIGHT - 50.0;
    let (xmax, step) = axis(rows.iter().map(|r| r.1).max().unwrap_or(0));
    let x = |v: f64| LABEL_W + v / xmax as f64 * plot_w;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" id="{id}" viewBox="0 0 {W} {h:.0}" role="img" aria-labelledby="{id}-title" xmlns="http://www.w3.org/2000/svg"><title id="{id}-title">{}</title>"#,
        esc(title)
    );
    let bottom = TOP + ROW * rows.len().max(1) as f64;
    let mut v = 0;
    while v <= xmax {
        let xx = x(v as f64);
        let _ = write!(
            s,
            r#"<line class="grid" x1="{xx:.1}" x2="{xx:.1}" y1="{TOP}" y2="{bottom:.1}"/><text class="tick" x="{xx:.1}" y="{:.1}" text-anchor="middle">{v}</text>"#,
            bottom + 14.0
        );
        v += step;
    }
    if rows.is_empty() {
        let _ = write!(
            s,
            r#"<text class="empty" x="{:.1}" y="{:.1}" text-anchor="middle">nothing in this period</text>"#,
            W / 2.0,
            TOP + ROW * 0.7
        );
    }
    for (i, (label, value)) in rows.iter().enumerate() {
        let yy = TOP + ROW * i as f64 + 3.0;
        let shown: String = if label.chars().count() > 38 {
            label.chars().take(37).chain(['…']).collect()
        } else {
            label.clone()
        };
        let _ = write!(
            s,
            r#"<g class="bar" data-label="{}" data-value="{value}"><title>{}: {value}</title><text class="label" x="{:.1}" y="{:.1}" text-anchor="end">{}</text><rect class="{}" x="{LABEL_W}" y="{yy:.1}" width="{:.1}" height="{:.1}"/><text class="value" x="{:.1}" y="{:.1}">{value}</text></g>"#,
            esc(label),
            esc(label),
            LABEL_W - 6.0,
            yy + 12.0,
            esc(&shown),
            esc(class),
            (x(*value as f64) - LABEL_W).max(0.5),
            ROW - 6.0,
            x(*value as f64) + 4.0,
            yy + 12.0
        );
    }
    let _ = write!(
        s,
        r#"<line class="axis" x1="{LABEL_W}" x2="{LABEL_W}" y1="{TOP}" y2="{bottom:.1}"/><text class="axis-title" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        LABEL_W + plot_w / 2.0,
        h - 8.0,
        esc(x_title)
    );
    s.push_str("</svg>");
    s
}

/// A chart of a report.
pub struct Chart {
    /// Element id (`chart-hours`...).
    pub id: &'static str,
    /// Title.
    pub title: String,
    /// The SVG.
    pub svg: String,
}

fn outcome_series(rows: &[PeriodRow]) -> Vec<Series<'static>> {
    let col = |f: fn(&PeriodRow) -> u64| rows.iter().map(f).collect::<Vec<u64>>();
    vec![
        Series {
            name: "delivered",
            class: "s-delivered",
            values: col(|r| r.traffic.delivered),
        },
        Series {
            name: "deferred",
            class: "s-deferred",
            values: col(|r| r.traffic.deferred),
        },
        Series {
            name: "bounced",
            class: "s-bounced",
            values: col(|r| r.traffic.bounced),
        },
        Series {
            name: "rejected",
            class: "s-rejected",
            values: col(|r| r.traffic.rejected),
        },
    ]
}

fn period_chart(
    id: &'static str,
    title: &str,
    rows: &[PeriodRow],
    x_title: &str,
    every: usize,
) -> Chart {
    let labels: Vec<String> = rows.iter().map(|r| r.period.clone()).collect();
    Chart {
        id,
        title: title.to_string(),
        svg: columns(
            id,
            title,
            &labels,
            &outcome_series(rows),
            x_title,
            "messages (recipients)",
            every,
        ),
    }
}

/// The charts of the statistics page and the HTML report: periods as stacked columns
/// (delivered, deferred, bounced, rejected), rankings as bars, delays as a histogram.
pub fn report_charts(r: &Report) -> Vec<Chart> {
    let mut v = vec![
        period_chart("chart-months", "Monthly history", &r.per_month, "month", 1),
        period_chart(
            "chart-days",
            "Per day",
            &r.per_day,
            "day",
            r.per_day.len().div_ceil(12),
        ),
        period_chart(
            "chart-days-of-month",
            "Days of month",
            &r.per_day_of_month,
            "day of month",
            2,
        ),
        period_chart(
            "chart-weekdays",
            "Days of week",
            &r.per_weekday,
            "day of week",
            1,
        ),
        period_chart(
            "chart-hours",
            &format!("Hours (in {})", r.time_zone),
            &r.per_hour,
            "hour of day",
            2,
        ),
    ];
    let ranking =
        |id: &'static str, title: &str, rows: Vec<(String, u64)>, unit: &str, class: &str| Chart {
            id,
            title: title.to_string(),
            svg: bars(id, title, &rows, unit, class),
        };
    v.push(ranking(
        "chart-destinations",
        "Top destination domains",
        r.destination_domains
            .iter()
            .map(|d| (d.domain.clone(), d.messages))
            .collect(),
        "deliveries",
        "s-delivered",
    ));
    v.push(ranking(
        "chart-senders",
        "Top senders",
        r.top_senders
            .iter()
            .map(|a| (a.address.clone(), a.messages))
            .collect(),
        "messages received",
        "s-received",
    ));
    v.push(ranking(
        "chart-codes",
        "SMTP reply codes of failures",
        r.smtp_codes
            .iter()
            .map(|c| (c.value.clone(), c.count))
            .collect(),
        "deferrals, bounces and refusals",
        "s-deferred",
    ));
    v.push(ranking(
        "chart-rejects",
        "Reject reasons",
        r.reject_classes
            .iter()
            .map(|c| (c.label.to_string(), c.count))
            .collect(),
        "refusals",
        "s-rejected",
    ));
    let labels: Vec<String> = r
        .delays
        .histogram
        .iter()
        .enumerate()
        .map(|(i, (b, _))| match b {
            Some(b) => format!("≤{}", human_secs(*b)),
            None => format!(">{}", human_secs(DELAY_BUCKETS[i - 1])),
        })
        .collect();
    v.push(Chart {
        id: "chart-delays",
        title: "Delivery delay".into(),
        svg: columns(
            "chart-delays",
            "Delivery delay (receipt to delivery)",
            &labels,
            &[Series {
                name: "deliveries",
                class: "s-delivered",
                values: r.delays.histogram.iter().map(|(_, n)| *n).collect(),
            }],
            "delay",
            "deliveries",
            1,
        ),
    });
    v
}

fn human_secs(s: f64) -> String {
    match s as u64 {
        n if n >= 86_400 => format!("{}d", n / 86_400),
        n if n >= 3600 => format!("{}h", n / 3600),
        n if n >= 60 => format!("{}m", n / 60),
        n => format!("{n}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_are_round() {
        assert_eq!(axis(0), (1, 1));
        assert_eq!(axis(7), (8, 2));
        assert_eq!(axis(38), (40, 10));
        assert_eq!(axis(1234), (1500, 500));
    }

    #[test]
    fn one_group_per_column_and_row_and_text_is_escaped() {
        let labels: Vec<String> = (0..24).map(|h| format!("{h:02}")).collect();
        let svg = columns(
            "hours",
            "Per hour",
            &labels,
            &[Series {
                name: "delivered",
                class: "s-delivered",
                values: (0..24).collect(),
            }],
            "hour of day",
            "messages",
            1,
        );
        assert_eq!(svg.matches(r#"<g class="bar""#).count(), 24);
        assert_eq!(
            svg.matches("<rect class=\"s-delivered\"").count(),
            23 + 1,
            "no rect for 0, one in the legend"
        );
        assert!(svg.contains(">hour of day<") && svg.contains(">messages<"));
        let svg = bars(
            "senders",
            "Top senders",
            &[("<script>x</script>@evil".into(), 3), ("a&b@c".into(), 1)],
            "messages",
            "s-received",
        );
        assert_eq!(svg.matches(r#"<g class="bar""#).count(), 2);
        assert!(
            !svg.contains("<script>")
                && svg.contains("&lt;script&gt;")
                && svg.contains("a&amp;b@c")
        );
    }
}
