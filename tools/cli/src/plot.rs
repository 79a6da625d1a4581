//! A latency-percentile plot as a self-contained SVG: latency (log scale) against the
//! percentile, spaced so that 90, 99, 99.9, 99.99 % are equally far apart.

use hdrhistogram::Histogram;

use crate::output::fmt_ns;

const W: f64 = 900.0;
const H: f64 = 520.0;
const LEFT: f64 = 100.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 60.0;
const BOTTOM: f64 = 70.0;
const COLORS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
/// x spans percentiles 0 .. 99.999 (five nines).
const NINES: f64 = 5.0;

fn x_of(quantile: f64) -> f64 {
    // 0 → 0 nines, 0.9 → 1, 0.99 → 2, ...
    let nines = (-(1.0 - quantile).max(1e-9).log10()).min(NINES);
    LEFT + nines / NINES * (W - LEFT - RIGHT)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The latency axis: whole decades of nanoseconds, drawn on a log scale.
struct LatencyAxis {
    /// log10 of the bottom of the axis (a whole decade).
    lo_decade: f64,
    /// log10 of the top of the axis (a whole decade above `lo_decade`).
    hi_decade: f64,
}

impl LatencyAxis {
    /// The decades that hold every value of `present` (1 ns – 1 µs when there is none).
    fn spanning(present: &[&(&str, &Histogram<u64>)]) -> Self {
        let lo = present
            .iter()
            .map(|(_, h)| h.min().max(1))
            .min()
            .unwrap_or(1) as f64;
        let hi = present
            .iter()
            .map(|(_, h)| h.max().max(2))
            .max()
            .unwrap_or(1000) as f64;
        LatencyAxis {
            lo_decade: lo.log10().floor(),
            hi_decade: hi.log10().ceil().max(lo.log10().floor() + 1.0),
        }
    }

    fn y_of(&self, ns: f64) -> f64 {
        let v = (ns.max(1.0).log10() - self.lo_decade) / (self.hi_decade - self.lo_decade);
        H - BOTTOM - v * (H - TOP - BOTTOM)
    }
}

/// Draws one line per histogram.
pub fn percentile_svg(title: &str, series: &[(&str, &Histogram<u64>)]) -> String {
    let present: Vec<_> = series.iter().filter(|(_, h)| !h.is_empty()).collect();
    let axis = LatencyAxis::spanning(&present);
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="13">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="30" text-anchor="middle" font-size="16">{}</text>
"#,
        W / 2.0,
        escape(title)
    );
    draw_grid(&mut svg, &axis);
    for (i, (name, h)) in present.iter().enumerate() {
        draw_series(&mut svg, &axis, i, name, h);
    }
    svg += &format!(
        "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#444\"/>\n</svg>\n",
        W - LEFT - RIGHT,
        H - TOP - BOTTOM
    );
    svg
}

/// Grid lines and labels: one horizontal line per decade, one vertical line per nine.
fn draw_grid(svg: &mut String, axis: &LatencyAxis) {
    let mut decade = axis.lo_decade;
    while decade <= axis.hi_decade {
        let y = axis.y_of(10f64.powf(decade));
        *svg += &format!(
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\n<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
            W - RIGHT,
            LEFT - 8.0,
            y + 4.0,
            decade_label(decade as i32)
        );
        decade += 1.0;
    }
    for (i, label) in ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
        .iter()
        .enumerate()
    {
        let x = LEFT + i as f64 / NINES * (W - LEFT - RIGHT);
        *svg += &format!(
            "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"#ddd\"/>\n<text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{label}</text>\n",
            H - BOTTOM,
            H - BOTTOM + 20.0
        );
    }
    *svg += &format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">percentile</text>\n<text x=\"16\" y=\"{}\" transform=\"rotate(-90 16 {})\" text-anchor=\"middle\">latency</text>\n",
        (LEFT + W - RIGHT) / 2.0,
        H - 20.0,
        H / 2.0,
        H / 2.0
    );
}

/// The `index`-th series: its curve, and its legend entry with p50, p99 and max.
fn draw_series(svg: &mut String, axis: &LatencyAxis, index: usize, name: &str, h: &Histogram<u64>) {
    let color = COLORS[index % COLORS.len()];
    let steps = 400;
    let points: Vec<String> = (0..=steps)
        .map(|k| {
            let nines = k as f64 / steps as f64 * NINES;
            let q = 1.0 - 10f64.powf(-nines);
            let v = h.value_at_quantile(q) as f64;
            format!("{:.1},{:.1}", x_of(q), axis.y_of(v))
        })
        .collect();
    *svg += &format!(
        "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>\n",
        points.join(" ")
    );
    let ly = TOP + 18.0 * index as f64 + 6.0;
    *svg += &format!(
        "<rect x=\"{}\" y=\"{}\" width=\"14\" height=\"4\" fill=\"{color}\"/><text x=\"{}\" y=\"{}\">{} (p50 {}, p99 {}, max {})</text>\n",
        LEFT + 12.0,
        ly - 4.0,
        LEFT + 32.0,
        ly + 2.0,
        escape(name),
        fmt_ns(h.value_at_quantile(0.5) as f64),
        fmt_ns(h.value_at_quantile(0.99) as f64),
        fmt_ns(h.max() as f64)
    );
}

/// "1 ns", "10 ns", "100 ns", "1 µs", … for 10^exp nanoseconds.
fn decade_label(exp: i32) -> String {
    let units = ["ns", "µs", "ms", "s"];
    let unit = (exp / 3).clamp(0, 3);
    let mantissa = 10u64.pow((exp - unit * 3).max(0) as u32);
    format!("{mantissa} {}", units[unit as usize])
}
