//! SVG plots of a quantization scheme, drawn with [plotters]' SVG backend into a `String` (feature `plot`).
//!
//! Text (the title, layer names, bar labels) is written as SVG `<text>` elements that the viewer renders
//! with its own fonts. Without plotters' `ttf` or `ab_glyph` features plotters uses its built-in text-size
//! estimate for the layout, so no font file and no system font library is needed.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// A plot could not be drawn (plotters' error, as text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("drawing the plot failed: {0}")]
pub struct PlotError(pub String);

fn draw_err<E: std::fmt::Display>(e: E) -> PlotError {
    PlotError(e.to_string())
}

/// The bar colour of [`scheme_svg`].
const BAR: RGBColor = RGBColor(0x3b, 0x7d, 0xd8);
/// Height of one layer's row, pixels.
const ROW: u32 = 24;

/// A horizontal bar chart of weight bits per layer: one row per `(layer, bits, weights)` in the given
/// order (the first at the top), the bar as long as the layer's bits on a 0–8 axis, labelled
/// `"<bits> b · <weights> weights"`. With no rows, a plot that says "no layers".
pub fn scheme_svg(title: &str, rows: &[(String, u8, usize)]) -> Result<String, PlotError> {
    // Room for the longest layer name (plotters only estimates text sizes: about 7 px a character).
    let name_w = rows.iter().map(|r| r.0.chars().count() as u32 * 7 + 14).max().unwrap_or(0).clamp(40, 320);
    let (w, h) = (name_w + 520, 100 + ROW * rows.len().max(1) as u32);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let area = root
            .titled(&format!("{title} — weight bits per layer"), ("sans-serif", 20).into_font().color(&BLACK))
            .map_err(draw_err)?;
        if rows.is_empty() {
            let style = ("sans-serif", 18).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Center));
            let (aw, ah) = area.dim_in_pixel();
            area.draw(&Text::new("no layers", (aw as i32 / 2, ah as i32 / 2), style)).map_err(draw_err)?;
        } else {
            bars(&area, rows, name_w)?;
        }
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

/// The chart of [`scheme_svg`] for at least one row.
fn bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    rows: &[(String, u8, usize)],
    name_w: u32,
) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    let n = rows.len() as i32;
    // Row `i` is the segment `n - 1 - i`, so that the first layer is at the top.
    let name = |v: &SegmentValue<i32>| match *v {
        SegmentValue::CenterOf(k) if (0..n).contains(&k) => rows[(n - 1 - k) as usize].0.clone(),
        _ => String::new(),
    };
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        // Room right of the plot for the label of an 8-bit bar.
        .margin_right(150)
        .x_label_area_size(44)
        .y_label_area_size(name_w)
        .build_cartesian_2d(0f64..8f64, (0..n - 1).into_segmented())
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_labels(9)
        .x_label_formatter(&|b| format!("{b:.0}"))
        .y_labels(rows.len())
        .y_label_formatter(&name)
        .x_desc("weight bits")
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(0xdd, 0xdd, 0xdd))
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(draw_err)?;
    let label = ("sans-serif", 14).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
    chart
        .draw_series(rows.iter().enumerate().map(|(i, &(_, bits, _))| {
            let k = n - 1 - i as i32;
            let mut bar = Rectangle::new(
                [(0.0, SegmentValue::Exact(k)), (f64::from(bits), SegmentValue::Exact(k + 1))],
                BAR.filled(),
            );
            bar.set_margin(3, 3, 0, 0);
            bar
        }))
        .map_err(draw_err)?;
    chart
        .draw_series(rows.iter().enumerate().map(|(i, (_, bits, params))| {
            let at = (f64::from(*bits), SegmentValue::CenterOf(n - 1 - i as i32));
            EmptyElement::at(at) + Text::new(format!("{bits} b · {params} weights"), (6, 0), label.clone())
        }))
        .map_err(draw_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(v: &[(&str, u8, usize)]) -> Vec<(String, u8, usize)> {
        v.iter().map(|&(n, b, p)| (n.to_string(), b, p)).collect()
    }

    /// The contents of the `<text>` elements, trimmed.
    fn texts(s: &str) -> Vec<&str> {
        s.split("<text").skip(1).filter_map(|t| Some(t[t.find('>')? + 1..t.find("</text>")?].trim())).collect()
    }

    fn assert_svg(s: &str) {
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"), "{s}");
        for bad in ["NaN", "inf"] {
            assert!(!s.contains(bad), "{bad} in\n{s}");
        }
    }

    #[test]
    fn every_layer_and_its_bits() {
        let r = rows(&[("conv1", 8, 150), ("conv2", 3, 2400), ("fc1", 1, 30720), ("fc2", 0, 840)]);
        let s = scheme_svg("lenet", &r).unwrap();
        assert_svg(&s);
        assert!(texts(&s).contains(&"lenet — weight bits per layer"), "{s}");
        for (name, bits, params) in &r {
            assert!(texts(&s).contains(&name.as_str()), "{name} in\n{s}");
            assert!(s.contains(&format!("{bits} b · {params} weights")), "{name}: {bits} in\n{s}");
        }
        // One bar a layer (plus the background).
        assert_eq!(s.matches("<rect").count(), r.len() + 1, "{s}");
    }

    #[test]
    fn names_are_escaped() {
        let s = scheme_svg("a <b> & c", &rows(&[("x<y", 2, 10), ("p&q", 4, 20)])).unwrap();
        assert_svg(&s);
        assert!(s.contains("a &lt;b&gt; &amp; c") && s.contains("x&lt;y") && s.contains("p&amp;q"), "{s}");
        assert!(!s.contains("x<y") && !s.contains("p&q") && !s.contains("<b>"), "{s}");
    }

    #[test]
    fn no_rows() {
        let s = scheme_svg("empty", &[]).unwrap();
        assert_svg(&s);
        assert!(s.contains("no layers") && s.contains("empty — weight bits per layer"), "{s}");
    }

    #[test]
    fn many_long_layers() {
        let r: Vec<_> =
            (0..40).map(|i| (format!("block{i}.conv_with_a_rather_long_name"), (i % 9) as u8, i * 100)).collect();
        let s = scheme_svg("deep", &r).unwrap();
        assert_svg(&s);
        for (name, ..) in &r {
            assert!(texts(&s).contains(&name.as_str()), "{name}");
        }
    }
}
