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

/// Draws one line per histogram.
pub fn percentile_svg(title: &str, series: &[(&str, &Histogram<u64>)]) -> String {
    let present: Vec<_> = series.iter().filter(|(_, h)| !h.is_empty()).collect();
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
    let (y_lo, y_hi) = (
        lo.log10().floor(),
        hi.log10().ceil().max(lo.log10().floor() + 1.0),
    );
    let y_of = |ns: f64| {
        let v = (ns.max(1.0).log10() - y_lo) / (y_hi - y_lo);
        H - BOTTOM - v * (H - TOP - BOTTOM)
    };
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="13">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="30" text-anchor="middle" font-size="16">{}</text>
"#,
        W / 2.0,
        escape(title)
    );
    // Horizontal grid: one line per decade.
    let mut decade = y_lo;
    while decade <= y_hi {
        let y = y_of(10f64.powf(decade));
        svg += &format!(
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\n<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
            W - RIGHT,
            LEFT - 8.0,
            y + 4.0,
            decade_label(decade as i32)
        );
        decade += 1.0;
    }
    // Vertical grid: 0, 90, 99, ... percent.
    for (i, label) in ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
        .iter()
        .enumerate()
    {
        let x = LEFT + i as f64 / NINES * (W - LEFT - RIGHT);
        svg += &format!(
            "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"#ddd\"/>\n<text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{label}</text>\n",
            H - BOTTOM,
            H - BOTTOM + 20.0
        );
    }
    svg += &format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">percentile</text>\n<text x=\"16\" y=\"{}\" transform=\"rotate(-90 16 {})\" text-anchor=\"middle\">latency</text>\n",
        (LEFT + W - RIGHT) / 2.0,
        H - 20.0,
        H / 2.0,
        H / 2.0
    );
    for (i, (name, h)) in present.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let mut points = Vec::new();
        let steps = 400;
        for k in 0..=steps {
            let nines = k as f64 / steps as f64 * NINES;
            let q = 1.0 - 10f64.powf(-nines);
            let v = h.value_at_quantile(q) as f64;
            points.push(format!("{:.1},{:.1}", x_of(q), y_of(v)));
        }
        svg += &format!(
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>\n",
            points.join(" ")
        );
        let ly = TOP + 18.0 * i as f64 + 6.0;
        svg += &format!(
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
    svg += &format!(
        "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#444\"/>\n</svg>\n",
        W - LEFT - RIGHT,
        H - TOP - BOTTOM
    );
    svg
}

/// "1 ns", "10 ns", "100 ns", "1 µs", … for 10^exp nanoseconds.
fn decade_label(exp: i32) -> String {
    let units = ["ns", "µs", "ms", "s"];
    let unit = (exp / 3).clamp(0, 3);
    let mantissa = 10u64.pow((exp - unit * 3).max(0) as u32);
    format!("{mantissa} {}", units[unit as usize])
}
