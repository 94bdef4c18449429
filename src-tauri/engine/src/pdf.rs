//! Invoice PDFs, written directly with printpdf: the frozen invoice laid out
//! on A4 or Letter with an embedded (subset) DejaVu Sans, so €, ¥ and accents
//! render and the layout is exact; a character DejaVu lacks is drawn from a
//! fallback face that has it (Droid Sans Fallback for Chinese, Japanese and
//! Korean, Symbola for emoji and symbols), so a buyer's name is never lost
//! from the page or from its text. Deterministic: the same invoice gives the
//! same bytes (fixed font ids, the epoch as creation date, the document id
//! taken from the invoice's hash).
//!
//! Layout: seller and invoice facts, bill-to, the lines (a line priced in
//! steps lists its tier arithmetic under it), the totals, and on every page a
//! footer with the payment terms and "page i of n"; a long invoice breaks
//! pages and repeats the table header.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use printpdf::{
    Color, DictItem, FontId, Line, LinePoint, Op, PaintMode, ParsedFont, PdfDocument, PdfFontHandle, PdfPage,
    PdfSaveOptions, Point, Polygon, PolygonRing, Pt, RawImage, Rgb, TextItem, WindingOrder, XObject, XObjectId,
    XObjectTransform,
};

use crate::credit::CreditNote;
use crate::error::{Error, Result};
use crate::invoice::{Invoice, Party};
use crate::money::Dec;
use crate::pricing::StepKind;
use crate::rating::LineKind;
use crate::statement::Statement;
use sha2::Digest;

const REGULAR_TTF: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
const BOLD_TTF: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans-Bold.ttf");
const CJK_TTF: &[u8] = include_bytes!("../../../assets/fonts/DroidSansFallback.ttf");
const SYMBOLS_TTF: &[u8] = include_bytes!("../../../assets/fonts/Symbola.ttf");

pub use crate::settings::Paper;

/// How a document is laid out: the paper, whether an invoice ends with its
/// usage by day, and the logo (PNG or JPEG bytes) at the top.
#[derive(Debug, Clone, Copy)]
pub struct Look<'a> {
    pub paper: Paper,
    pub usage_appendix: bool,
    pub logo: Option<&'a [u8]>,
}

impl Look<'_> {
    /// Just the paper: no appendix, no logo.
    pub fn plain(paper: Paper) -> Look<'static> {
        Look { paper, usage_appendix: false, logo: None }
    }
}

/// The tallest and widest a logo is drawn, in points.
const LOGO_HEIGHT: f32 = 40.0;
const LOGO_WIDTH: f32 = 180.0;

/// A paper's width and height in points.
fn paper_size(paper: Paper) -> (f32, f32) {
    match paper {
        Paper::A4 => (595.28, 841.89),
        Paper::Letter => (612.0, 792.0),
    }
}

/// A face text is drawn in, by its fixed font id in the PDF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Regular,
    Bold,
    /// Chinese, Japanese and Korean, for either weight.
    Cjk,
    /// Emoji and symbols, for either weight.
    Symbols,
}

impl Slot {
    const ALL: [Slot; 4] = [Slot::Regular, Slot::Bold, Slot::Cjk, Slot::Symbols];
    /// Where a character the asked face lacks is looked for, in order.
    const FALLBACKS: [Slot; 2] = [Slot::Cjk, Slot::Symbols];

    fn id(self) -> &'static str {
        match self {
            Slot::Regular => "F1",
            Slot::Bold => "F2",
            Slot::Cjk => "F3",
            Slot::Symbols => "F4",
        }
    }

    fn ttf(self) -> &'static [u8] {
        match self {
            Slot::Regular => REGULAR_TTF,
            Slot::Bold => BOLD_TTF,
            Slot::Cjk => CJK_TTF,
            Slot::Symbols => SYMBOLS_TTF,
        }
    }

    /// The face, parsed on first use (a fallback only when a document needs it).
    fn font(self) -> Result<&'static ParsedFont> {
        static PARSED: [OnceLock<Option<ParsedFont>>; 4] = [const { OnceLock::new() }; 4];
        PARSED[self as usize]
            .get_or_init(|| ParsedFont::from_bytes(self.ttf(), 0, &mut Vec::new()))
            .as_ref()
            .ok_or_else(|| Error::Internal(format!("the embedded invoice font {} could not be read", self.id())))
    }

    /// Whether the face draws `c` (a glyph other than the empty box).
    fn has(self, c: char) -> Result<bool> {
        Ok(self.font()?.lookup_glyph_index(c as u32).is_some_and(|g| g != 0))
    }
}

/// Characters that take no room and have no glyph of their own when no face
/// draws them: joiners, marks of direction, variation selectors (the emoji
/// presentation selector U+FE0F), tags, the byte-order mark.
fn invisible(c: char) -> bool {
    matches!(c as u32,
        0x200B..=0x200F | 0x2060..=0x2064 | 0xFE00..=0xFE0F | 0xFEFF | 0xE0001 | 0xE0020..=0xE007F | 0xE0100..=0xE01EF)
}

/// `text` cut into runs, each drawn in one face: `face` where it has the
/// glyph, else the first fallback that has it. A character no face has is
/// drawn in `face` (its empty box), or left out when it is invisible. Also
/// whether what is drawn differs from `text`: then the text layer must be
/// given the text itself.
fn runs(face: Face, text: &str) -> Result<(Vec<(Slot, String)>, bool)> {
    let asked = face.slot();
    let mut runs: Vec<(Slot, String)> = Vec::new();
    let mut differs = false;
    for c in text.chars() {
        let slot = if asked.has(c)? {
            Some(asked)
        } else {
            let mut found = None;
            for fallback in Slot::FALLBACKS {
                if fallback.has(c)? {
                    found = Some(fallback);
                    break;
                }
            }
            found
        };
        let slot = match slot {
            Some(slot) => slot,
            None if invisible(c) => {
                differs = true;
                continue;
            }
            None => {
                differs = true;
                asked
            }
        };
        match runs.last_mut() {
            Some((last, run)) if *last == slot => run.push(c),
            _ => runs.push((slot, c.to_string())),
        }
    }
    Ok((runs, differs))
}

/// `text` as a PDF text string (UTF-16BE with its byte-order mark), for the
/// text layer's /ActualText.
fn pdf_text_string(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xFE, 0xFF];
    bytes.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
    bytes
}

pub use crate::text::group_digits;

const MARGIN: f32 = 50.0;
const FOOTER: f32 = 60.0;
const GREY: f32 = 0.42;

/// The font reduced to the glyphs of `chars` (and .notdef), with a Unicode
/// cmap: what is embedded. Glyph widths are the full font's, so the layout
/// measured on it holds.
fn subset(ttf: &[u8], full: &ParsedFont, chars: &BTreeSet<char>) -> Result<ParsedFont> {
    use allsorts::binary::read::ReadScope;
    use allsorts::font_data::FontData;
    use allsorts::subset::{CmapTarget, SubsetProfile};
    let fail = |e: &dyn std::fmt::Display| Error::Internal(format!("the invoice font could not be subset: {e}"));
    let data = ReadScope::new(ttf).read::<FontData<'_>>().map_err(|e| fail(&e))?;
    let provider = data.table_provider(0).map_err(|e| fail(&e))?;
    let mut ids: Vec<u16> =
        chars.iter().filter_map(|c| full.lookup_glyph_index(*c as u32)).filter(|g| *g != 0).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.insert(0, 0);
    let bytes = allsorts::subset::subset(&provider, &ids, &SubsetProfile::Minimal, CmapTarget::Unicode)
        .map_err(|e| fail(&e))?;
    ParsedFont::from_bytes(&bytes, 0, &mut Vec::new()).ok_or_else(|| fail(&"the subset does not parse"))
}

/// Lays out pages top-down: `y` is the distance from the top edge.
struct Layout {
    /// The characters shown in each face (by `Slot`), to subset the fonts.
    used: [BTreeSet<char>; 4],
    height: f32,
    pages: Vec<Vec<Op>>,
    ops: Vec<Op>,
    y: f32,
    /// Images the pages show, by their (fixed) ids.
    images: Vec<(XObjectId, RawImage)>,
}

#[derive(Clone, Copy)]
enum Face {
    Regular,
    Bold,
}

impl Face {
    fn slot(self) -> Slot {
        match self {
            Face::Regular => Slot::Regular,
            Face::Bold => Slot::Bold,
        }
    }
}

/// The width of `text` in `slot` at `size` points.
fn run_width(slot: Slot, size: f32, text: &str) -> f32 {
    let Ok(font) = slot.font() else { return 0.0 };
    let units: u32 = text
        .chars()
        .map(|c| {
            let gid = font.lookup_glyph_index(c as u32).unwrap_or(0);
            u32::from(font.get_glyph_width(gid).unwrap_or(0))
        })
        .sum();
    units as f32 * size / f32::from(font.units_per_em.max(1))
}

impl Layout {
    /// An empty first page of `height` points, the cursor at the top margin.
    /// Fails if the two main faces cannot be read.
    fn new(height: f32) -> Result<Layout> {
        Slot::Regular.font()?;
        Slot::Bold.font()?;
        Ok(Layout {
            used: Default::default(),
            height,
            pages: Vec::new(),
            ops: Vec::new(),
            y: MARGIN,
            images: Vec::new(),
        })
    }

    /// The faces `text` is drawn in: `face`, and fallbacks for what it lacks.
    /// (The faces are read before any layout starts, see `new`: a failure
    /// here draws the text in `face`.)
    fn runs(face: Face, text: &str) -> (Vec<(Slot, String)>, bool) {
        runs(face, text).unwrap_or_else(|_| (vec![(face.slot(), text.to_string())], false))
    }

    fn text_width(&self, face: Face, size: f32, text: &str) -> f32 {
        Layout::runs(face, text).0.iter().map(|(slot, run)| run_width(*slot, size, run)).sum()
    }

    fn text_at(&mut self, x: f32, y: f32, face: Face, size: f32, grey: f32, text: &str) {
        if text.is_empty() {
            return;
        }
        let (runs, differs) = Layout::runs(face, text);
        let colour = Color::Rgb(Rgb::new(grey, grey, grey, None));
        if differs {
            // What is drawn is not all of the text: the text layer gets it whole.
            let properties =
                [("ActualText".to_string(), DictItem::String { data: pdf_text_string(text), literal: false })];
            self.ops.push(Op::BeginMarkedContentWithProperties {
                tag: "Span".into(),
                properties: DictItem::Dict { map: properties.into_iter().collect() },
            });
        }
        let mut x = x;
        for (slot, run) in runs {
            self.used[slot as usize].extend(run.chars());
            let width = run_width(slot, size, &run);
            self.ops.extend([
                Op::StartTextSection,
                Op::SetFillColor { col: colour.clone() },
                Op::SetFont { font: PdfFontHandle::External(FontId(slot.id().into())), size: Pt(size) },
                Op::SetTextCursor { pos: Point { x: Pt(x), y: Pt(self.height - y) } },
                Op::ShowText { items: vec![TextItem::Text(run)] },
                Op::EndTextSection,
            ]);
            x += width;
        }
        if differs {
            self.ops.push(Op::EndMarkedContent);
        }
    }

    /// Text whose left edge is at `x`, on the baseline `size` below the cursor.
    fn left(&mut self, x: f32, face: Face, size: f32, grey: f32, text: &str) {
        self.text_at(x, self.y + size, face, size, grey, text);
    }

    /// Text whose right edge is at `x`.
    fn right(&mut self, x: f32, face: Face, size: f32, grey: f32, text: &str) {
        let w = self.text_width(face, size, text);
        self.text_at(x - w, self.y + size, face, size, grey, text);
    }

    /// Cuts text to fit `max` points, ending it with "…".
    fn fit(&self, face: Face, size: f32, text: &str, max: f32) -> String {
        if self.text_width(face, size, text) <= max {
            return text.to_string();
        }
        let mut cut: String = text.to_string();
        while !cut.is_empty() && self.text_width(face, size, &format!("{cut}…")) > max {
            cut.pop();
        }
        format!("{cut}…")
    }

    fn rule(&mut self, x1: f32, x2: f32, thickness: f32, grey: f32) {
        let y = self.height - self.y;
        self.ops.extend([
            Op::SetOutlineColor { col: Color::Rgb(Rgb::new(grey, grey, grey, None)) },
            Op::SetOutlineThickness { pt: Pt(thickness) },
            Op::DrawLine {
                line: Line {
                    points: vec![
                        LinePoint { p: Point { x: Pt(x1), y: Pt(y) }, bezier: false },
                        LinePoint { p: Point { x: Pt(x2), y: Pt(y) }, bezier: false },
                    ],
                    is_closed: false,
                },
            },
        ]);
    }

    /// Draws `text` as a QR code (error correction M) whose top left corner is
    /// `top` points below the page's top and `x` from its left, `size` wide,
    /// with a quiet zone of four modules inside that size: one filled path of
    /// a square per dark module.
    fn qr(&mut self, text: &str, x: f32, top: f32, size: f32) -> Result<()> {
        let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
            .map_err(|e| Error::Internal(format!("the payment code cannot be drawn: {e}")))?;
        let n = code.width();
        let module = size / (n + 8) as f32;
        let colors = code.to_colors();
        let mut rings = Vec::new();
        for row in 0..n {
            // Runs of dark modules in a row, as one rectangle each.
            let mut col = 0;
            while col < n {
                if colors[row * n + col] != qrcode::Color::Dark {
                    col += 1;
                    continue;
                }
                let start = col;
                while col < n && colors[row * n + col] == qrcode::Color::Dark {
                    col += 1;
                }
                let x0 = x + (start + 4) as f32 * module;
                let x1 = x + (col + 4) as f32 * module;
                let y0 = self.height - top - (row + 4) as f32 * module;
                let y1 = y0 - module;
                let corner = |x: f32, y: f32| LinePoint { p: Point { x: Pt(x), y: Pt(y) }, bezier: false };
                rings
                    .push(PolygonRing { points: vec![corner(x0, y0), corner(x1, y0), corner(x1, y1), corner(x0, y1)] });
            }
        }
        self.ops.extend([
            Op::SetFillColor { col: Color::Rgb(Rgb::new(0.0, 0.0, 0.0, None)) },
            Op::DrawPolygon { polygon: Polygon { rings, mode: PaintMode::Fill, winding_order: WindingOrder::NonZero } },
        ]);
        Ok(())
    }

    /// Draws the logo at the cursor's left, at most [`LOGO_HEIGHT`] tall and
    /// [`LOGO_WIDTH`] wide; moves the cursor below it.
    fn logo(&mut self, bytes: &[u8]) -> Result<()> {
        let image =
            crate::logo::decode(bytes).map_err(|why| Error::Internal(format!("the logo cannot be drawn: {why}")))?;
        let (w, h) = (image.width as f32, image.height as f32);
        // printpdf sizes an image as pixels × 72 / dpi points.
        let dpi = (h * 72.0 / LOGO_HEIGHT).max(w * 72.0 / LOGO_WIDTH);
        let drawn_height = h * 72.0 / dpi;
        let id = XObjectId("Logo".into());
        self.ops.push(Op::UseXobject {
            id: id.clone(),
            transform: XObjectTransform {
                translate_x: Some(Pt(MARGIN)),
                translate_y: Some(Pt(self.height - self.y - drawn_height)),
                dpi: Some(dpi),
                ..Default::default()
            },
        });
        self.images.push((id, image));
        self.y += drawn_height + 12.0;
        Ok(())
    }

    fn room_left(&self) -> f32 {
        self.height - FOOTER - self.y
    }

    fn break_page(&mut self) {
        self.pages.push(std::mem::take(&mut self.ops));
        self.y = MARGIN;
    }
}

/// Column positions of the lines table.
struct Columns {
    description: f32,
    quantity_right: f32,
    /// The unit price's column (an invoice's lines; none on a credit note).
    unit_price_right: Option<f32>,
    amount_right: f32,
}

fn table_header(l: &mut Layout, c: &Columns, currency: &str) {
    l.left(c.description, Face::Bold, 9.0, GREY, "Description");
    l.right(c.quantity_right, Face::Bold, 9.0, GREY, "Quantity");
    if let Some(x) = c.unit_price_right {
        l.right(x, Face::Bold, 9.0, GREY, "Unit price");
    }
    l.right(c.amount_right, Face::Bold, 9.0, GREY, &format!("Amount ({currency})"));
    l.y += 15.0;
    l.rule(c.description, c.amount_right, 0.6, 0.6);
    l.y += 6.0;
}

/// The seller's block on the left and the document's title and facts on the
/// right; the cursor ends below both.
fn heading(
    l: &mut Layout,
    seller: &Party,
    logo: Option<&[u8]>,
    (title, facts, remark): (&str, &[(&str, String)], Option<String>),
    right: f32,
) -> Result<()> {
    let top = l.y;
    if let Some(bytes) = logo {
        l.logo(bytes)?;
    }
    l.left(MARGIN, Face::Bold, 16.0, 0.1, &seller.name);
    l.y += 22.0;
    for line in &seller.address {
        l.left(MARGIN, Face::Regular, 9.0, 0.25, line);
        l.y += 12.0;
    }
    if let Some(tax_id) = &seller.tax_id {
        l.left(MARGIN, Face::Regular, 9.0, 0.25, &format!("Tax ID: {tax_id}"));
        l.y += 12.0;
    }
    let seller_bottom = l.y;
    l.y = top;
    l.right(right, Face::Bold, 20.0, 0.1, title);
    l.y += 30.0;
    for (label, value) in facts {
        l.right(right - 150.0, Face::Regular, 9.0, GREY, label);
        l.right(right, Face::Bold, 9.0, 0.1, value);
        l.y += 13.0;
    }
    if let Some(remark) = remark {
        let text = l.fit(Face::Regular, 9.0, &remark, 260.0);
        l.right(right, Face::Regular, 9.0, 0.55, &text);
        l.y += 13.0;
    }
    l.y = l.y.max(seller_bottom) + 18.0;
    Ok(())
}

/// The buyer under "BILL TO".
fn bill_to(l: &mut Layout, buyer: &Party) {
    l.left(MARGIN, Face::Bold, 8.0, GREY, "BILL TO");
    l.y += 13.0;
    l.left(MARGIN, Face::Bold, 11.0, 0.1, &buyer.name);
    l.y += 15.0;
    for line in buyer.address.iter().chain(buyer.email.iter()) {
        l.left(MARGIN, Face::Regular, 9.0, 0.25, line);
        l.y += 12.0;
    }
    if let Some(tax_id) = &buyer.tax_id {
        l.left(MARGIN, Face::Regular, 9.0, 0.25, &format!("Tax ID: {tax_id}"));
        l.y += 12.0;
    }
}

/// The totals, right-aligned: (label, amount, bold). An amount with a space
/// (it names its currency) is printed as it is.
fn totals(l: &mut Layout, rows: Vec<(String, String, bool)>, right: f32) {
    if l.room_left() < 18.0 * rows.len() as f32 {
        l.break_page();
    }
    for (label, value, strong) in rows {
        let face = if strong { Face::Bold } else { Face::Regular };
        let label = l.fit(face, 10.0, &label, 230.0);
        l.right(right - 130.0, face, 10.0, 0.1, &label);
        let value = if value.contains(' ') { value } else { group_digits(&value) };
        l.right(right, face, 10.0, 0.1, &value);
        l.y += 16.0;
    }
}

/// Puts the footer on every page, now that their count is known, and writes
/// the document with fixed font ids and `id_hash` as its id: same input, same bytes.
/// What a PDF says about itself (its document information): title, author
/// (the seller), subject, and the issue date as its creation date, so that
/// the same document renders to the same bytes whenever it is rendered.
struct Meta<'a> {
    title: &'a str,
    author: &'a str,
    subject: String,
    issued: chrono::NaiveDate,
}

fn finish(mut l: Layout, meta: &Meta, number: &str, footer: &[String], id_hash: &str, width: f32) -> Result<Vec<u8>> {
    let title = meta.title;
    let height = l.height;
    let right = width - MARGIN;
    l.pages.push(std::mem::take(&mut l.ops));
    let count = l.pages.len();
    let pages: Vec<PdfPage> = std::mem::take(&mut l.pages)
        .into_iter()
        .enumerate()
        .map(|(i, ops)| {
            l.ops = ops;
            l.y = height - FOOTER + 18.0;
            l.rule(MARGIN, right, 0.4, 0.75);
            l.y += 8.0;
            for (k, line) in footer.iter().enumerate() {
                l.left(MARGIN, Face::Regular, 8.0, GREY, line);
                if k + 1 == footer.len() {
                    l.right(right, Face::Regular, 8.0, GREY, &format!("{number} · page {} of {count}", i + 1));
                }
                l.y += 11.0;
            }
            let ops = std::mem::take(&mut l.ops);
            PdfPage::new(Pt(width).into(), Pt(height).into(), ops)
        })
        .collect();

    let mut doc = PdfDocument::new(&format!("{title} {number}"));
    let issued = meta.issued.and_hms_opt(0, 0, 0).map_or(0, |t| t.and_utc().timestamp());
    let date = printpdf::DateTime::from_unix_timestamp(issued).map_err(|e| Error::Internal(e.to_string()))?;
    let info = &mut doc.metadata.info;
    info.document_title = format!("{title} {number}");
    info.author = meta.author.to_string();
    info.subject = meta.subject.clone();
    info.creator = "Meterdesk".into();
    info.producer = "Meterdesk".into();
    info.creation_date = date;
    info.modification_date = date;
    info.metadata_date = date;
    // Fixed font ids (printpdf would draw random ones); a fallback face only
    // when the document draws from it.
    for slot in Slot::ALL {
        let chars = &l.used[slot as usize];
        if chars.is_empty() && matches!(slot, Slot::Cjk | Slot::Symbols) {
            continue;
        }
        let embedded = subset(slot.ttf(), slot.font()?, chars)?;
        doc.resources.fonts.map.insert(FontId(slot.id().into()), printpdf::PdfFont::new(embedded));
    }
    for (id, image) in std::mem::take(&mut l.images) {
        doc.resources.xobjects.map.insert(id, XObject::Image(image));
    }
    doc.with_pages(pages);
    let mut bytes = doc.save(&PdfSaveOptions { subset_fonts: true, ..Default::default() }, &mut Vec::new());
    fix_document_id(&mut bytes, id_hash);
    Ok(bytes)
}

/// An amount of a step rounded to the currency's minor units, for reading
/// (the exact figure stays in the usage appendix and the console).
fn for_reading(amount: rust_decimal::Decimal, minor_units: u32) -> String {
    let mut rounded = amount.round_dp_with_strategy(minor_units, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(minor_units);
    rounded.to_string()
}

/// A usage line's price per unit when one price applies to every unit billed
/// (a per-unit price past what is included, or the one tier used): "0.001",
/// or for a price per token "2.76 per 1M". Several tiers, packages and
/// percentages show their arithmetic under the line instead.
fn unit_price(line: &crate::rating::Line) -> Option<String> {
    if line.kind != LineKind::Usage {
        return None;
    }
    let units: Vec<_> = line.steps.iter().filter(|s| s.kind != StepKind::Included).collect();
    let [step] = units.as_slice() else { return None };
    // One price for every unit billed: per unit, or the one tier a volume price picked.
    if !matches!(step.kind, StepKind::Units | StepKind::Tier) || !step.flat_fee.0.is_zero() {
        return None;
    }
    let price = step.unit_price.0.normalize();
    let million = rust_decimal::Decimal::from(1_000_000);
    Some(if price < rust_decimal::Decimal::new(1, 4) && !price.is_zero() {
        format!("{} per 1M", (price * million).normalize())
    } else {
        group_digits(&price.to_string())
    })
}

fn tax_label(rate: Option<&crate::money::Dec>, exempt: Option<&String>) -> String {
    match (rate, exempt) {
        (_, Some(reason)) => format!("Tax (exempt: {reason})"),
        (Some(rate), None) => format!("Tax {}%", (rate.0 * rust_decimal::Decimal::ONE_HUNDRED).normalize()),
        (None, None) => "Tax".to_string(),
    }
}

/// Renders one finalized invoice.
pub fn render(invoice: &Invoice, look: &Look) -> Result<Vec<u8>> {
    let (width, height) = paper_size(look.paper);
    let f = &invoice.frozen;
    let d = &f.draft;
    let number = d.number.clone().unwrap_or_default();
    let mut l = Layout::new(height)?;
    let right = width - MARGIN;

    let title = if invoice.void_reason.is_some() { "INVOICE — VOID" } else { "INVOICE" };
    let facts = [
        ("Number", number.clone()),
        ("Issue date", f.issue_date.to_string()),
        ("Due date", f.due_date.to_string()),
        ("Period", format!("{} to {}", d.first_day, d.last_day)),
    ];
    let remark = match (&invoice.void_reason, &f.adjusts) {
        (Some(reason), _) => Some(format!("Voided: {reason}")),
        (None, Some(adjusted)) => Some(format!(
            "Late usage for {adjusted}: {}",
            meterdesk_rules::text::count(f.late_events.unwrap_or(0), "event", "events")
        )),
        (None, None) => None,
    };
    heading(&mut l, &f.seller, look.logo, (title, &facts, remark), right)?;
    bill_to(&mut l, &f.buyer);
    if d.active_days != d.period_days {
        l.y += 4.0;
        let note = format!(
            "Subscription active {} of the period's {} days: fixed fees and the commitment are prorated.",
            d.active_days, d.period_days
        );
        l.left(MARGIN, Face::Regular, 8.5, GREY, &note);
        l.y += 12.0;
    }
    l.y += 16.0;

    // The lines.
    let c = Columns {
        description: MARGIN,
        quantity_right: right - 200.0,
        unit_price_right: Some(right - 100.0),
        amount_right: right,
    };
    table_header(&mut l, &c, &d.currency);
    let description_room = c.quantity_right - c.description - 90.0;
    for line in &d.lines {
        let needed = 18.0 + 11.0 * line.steps.len() as f32;
        if l.room_left() < needed {
            l.break_page();
            l.left(MARGIN, Face::Regular, 9.0, GREY, &format!("Invoice {number} (continued)"));
            l.y += 20.0;
            table_header(&mut l, &c, &d.currency);
        }
        let text = l.fit(Face::Regular, 10.0, &line.description, description_room);
        l.left(c.description, Face::Regular, 10.0, 0.1, &text);
        let quantity = match line.kind {
            LineKind::Usage => group_digits(&line.quantity.to_string()),
            _ => String::new(),
        };
        l.right(c.quantity_right, Face::Regular, 10.0, 0.1, &quantity);
        if let (Some(x), Some(price)) = (c.unit_price_right, unit_price(line)) {
            l.right(x, Face::Regular, 10.0, 0.1, &price);
        }
        l.right(c.amount_right, Face::Regular, 10.0, 0.1, &group_digits(&line.amount.to_string()));
        l.y += 15.0;
        // Usage priced in steps shows each step's arithmetic; a prorated fee says
        // how it was prorated; other lines say what they are.
        let adjusted = line.steps.iter().any(|s| matches!(s.kind, StepKind::Rerated | StepKind::BilledBefore));
        let explained: Vec<String> = match line.kind {
            // A late-usage adjustment: the line re-rated, less what was billed.
            _ if adjusted => line
                .steps
                .iter()
                .map(|s| {
                    let quantity = match line.kind {
                        LineKind::Usage => format!("{} → ", group_digits(&s.quantity.to_string())),
                        _ => String::new(),
                    };
                    format!("{}: {quantity}{}", s.label, group_digits(&s.amount.to_string()))
                })
                .collect(),
            // Tiers (several, or the one a volume price picked) show their arithmetic.
            LineKind::Usage if line.steps.len() > 1 || line.steps.iter().any(|s| s.kind == StepKind::Tier) => line
                .steps
                .iter()
                .map(|step| {
                    if step.kind == StepKind::Cap {
                        return format!("{}: {}", step.label, group_digits(&step.amount.to_string()));
                    }
                    let flat = if step.flat_fee.0.is_zero() { String::new() } else { format!(" + {}", step.flat_fee) };
                    format!(
                        "{}: {} × {}{flat} = {}",
                        step.label,
                        group_digits(&step.quantity.to_string()),
                        step.unit_price.0.normalize(),
                        group_digits(&for_reading(step.amount.0, d.total.0.scale()))
                    )
                })
                .collect(),
            LineKind::Usage => Vec::new(),
            LineKind::Fee => line
                .steps
                .iter()
                .filter(|s| s.kind == StepKind::Proration)
                .map(|s| format!("{} of {} = {}", s.label, group_digits(&s.unit_price.to_string()), line.amount))
                .collect(),
            LineKind::Commitment | LineKind::Cap | LineKind::Discount => {
                line.steps.iter().map(|s| s.label.clone()).collect()
            }
        };
        for arithmetic in &explained {
            let arithmetic = l.fit(Face::Regular, 7.5, arithmetic, c.amount_right - c.description - 12.0);
            l.left(c.description + 12.0, Face::Regular, 7.5, GREY, &arithmetic);
            l.y += 11.0;
        }
        l.y += 3.0;
    }
    l.rule(c.description, c.amount_right, 0.6, 0.6);
    l.y += 10.0;

    let mut rows = vec![
        ("Subtotal".to_string(), d.subtotal.to_string(), false),
        (tax_label(d.tax_rate.as_ref(), f.tax_exempt.as_ref()), d.tax.to_string(), false),
    ];
    rows.extend(d.topups.iter().map(|t| (t.description.clone(), t.amount.to_string(), false)));
    rows.extend([
        ("Total".to_string(), d.total.to_string(), true),
        ("Credits applied".to_string(), d.credits_applied.to_string(), false),
        ("Amount due".to_string(), format!("{} {}", group_digits(&d.amount_due.to_string()), d.currency), true),
    ]);
    totals(&mut l, rows, right);
    if let Some(allowance) = &d.allowance {
        // What the customer used against its cap or commitment, in words.
        l.y += 6.0;
        let text = l.fit(Face::Regular, 9.0, &format!("{}.", allowance.in_words(&d.currency)), right - MARGIN);
        l.left(MARGIN, Face::Regular, 9.0, 0.1, &text);
        l.y += 12.0;
    }
    if let Some(payment) = &f.payment {
        how_to_pay(
            &mut l,
            payment,
            &number,
            &format!("{} {}", group_digits(&d.amount_due.to_string()), d.currency),
            f.due_date,
            payment.sepa_qr(d.amount_due.0, &d.currency, &number).as_deref(),
        )?;
    }
    if look.usage_appendix && !f.usage_days.is_empty() {
        usage_appendix(&mut l, invoice, &number, right);
    }
    let footer = [
        format!(
            "Payment due within {} days, by {}. Please quote {number} with your payment.",
            f.payment_terms_days, f.due_date
        ),
        f.seller.name.clone(),
    ];
    let meta = Meta {
        title: "Invoice",
        author: &f.seller.name,
        subject: format!("{}: {} to {}", f.buyer.name, d.first_day, d.last_day),
        issued: f.issue_date,
    };
    finish(l, &meta, &number, &footer, &invoice.hash, width)
}

/// Where to pay, under the totals: the amount due by the due date, the
/// account, and the invoice's number as the reference to quote; beside them,
/// the SEPA payment code `qr` encodes, if any.
fn how_to_pay(
    l: &mut Layout,
    payment: &crate::settings::PaymentDetails,
    number: &str,
    due: &str,
    by: chrono::NaiveDate,
    qr: Option<&str>,
) -> Result<()> {
    let lines = payment.lines(number);
    let text_height = 30.0 + 13.0 * lines.len() as f32;
    let height = if qr.is_some() { text_height.max(QR_SIZE + 36.0) } else { text_height };
    if l.room_left() < height {
        l.break_page();
    }
    let top = l.y;
    l.y += 10.0;
    l.left(MARGIN, Face::Bold, 10.5, 0.1, "How to pay");
    l.y += 15.0;
    l.left(MARGIN, Face::Regular, 9.5, 0.1, &format!("Please pay {due} by {by} to:"));
    l.y += 13.0;
    let width = if qr.is_some() { 330.0 } else { 480.0 };
    for line in lines {
        let text = l.fit(Face::Regular, 9.5, &line, width);
        l.left(MARGIN + 10.0, Face::Regular, 9.5, 0.1, &text);
        l.y += 13.0;
    }
    if let Some(text) = qr {
        let x = MARGIN + 360.0;
        l.qr(text, x, top + 10.0, QR_SIZE)?;
        // The caption, centred under the code, just below its quiet zone's top half.
        let caption = "Scan to pay with a banking app";
        let caption_x = x + (QR_SIZE - l.text_width(Face::Regular, 8.0, caption)) / 2.0;
        let baseline = top + 10.0 + QR_SIZE + 4.0;
        l.text_at(caption_x, baseline, Face::Regular, 8.0, GREY, caption);
        l.y = l.y.max(baseline + 6.0);
    }
    Ok(())
}

/// The side of the SEPA payment code, in points (about 3.5 cm).
const QR_SIZE: f32 = 100.0;

/// The appendix: each usage line's quantity on each day, in three columns.
fn usage_appendix(l: &mut Layout, invoice: &Invoice, number: &str, right: f32) {
    const ROW: f32 = 11.5;
    const COLUMNS: usize = 3;
    let f = &invoice.frozen;
    let column_width = (right - MARGIN) / COLUMNS as f32;
    let title = |l: &mut Layout, continued: bool| {
        let text = if continued { "Usage detail (continued)" } else { "Usage detail" };
        l.left(MARGIN, Face::Bold, 13.0, 0.1, text);
        l.right(right, Face::Regular, 9.0, GREY, &format!("Invoice {number}"));
        l.y += 24.0;
    };
    l.break_page();
    title(l, false);
    let note = "Each usage line's quantity on each day with usage (days in the workspace's time zone), as finalized.";
    l.left(MARGIN, Face::Regular, 8.5, GREY, note);
    l.y += 18.0;
    for line_days in &f.usage_days {
        let Some(line) = f.draft.lines.get(line_days.line - 1) else { continue };
        if l.room_left() < 30.0 + ROW {
            l.break_page();
            title(l, true);
        }
        let heading = format!("Line {}: {}", line_days.line, line.description);
        let heading = l.fit(Face::Bold, 10.0, &heading, right - MARGIN - 150.0);
        l.left(MARGIN, Face::Bold, 10.0, 0.1, &heading);
        l.right(right, Face::Regular, 9.0, GREY, &format!("total {}", group_digits(&line.quantity.to_string())));
        l.y += 15.0;
        l.rule(MARGIN, right, 0.4, 0.75);
        l.y += 5.0;
        if line_days.days.is_empty() {
            l.left(MARGIN, Face::Regular, 8.5, GREY, "No usage.");
            l.y += ROW;
        }
        // Days run down the columns of each block that fits on the page.
        let mut rest = &line_days.days[..];
        while !rest.is_empty() {
            let mut rows = ((l.room_left() / ROW).floor() as usize).max(1);
            if rows * COLUMNS >= rest.len() {
                rows = rest.len().div_ceil(COLUMNS);
            }
            let (block, after) = rest.split_at((rows * COLUMNS).min(rest.len()));
            for (i, day) in block.iter().enumerate() {
                let x = MARGIN + (i / rows) as f32 * column_width;
                let y = l.y + (i % rows) as f32 * ROW;
                l.text_at(x, y + 8.5, Face::Regular, 8.5, 0.25, &day.date.to_string());
                let quantity = group_digits(&day.quantity.to_string());
                let w = l.text_width(Face::Regular, 8.5, &quantity);
                l.text_at(x + column_width - 18.0 - w, y + 8.5, Face::Regular, 8.5, 0.1, &quantity);
            }
            l.y += rows as f32 * ROW;
            rest = after;
            if !rest.is_empty() {
                l.break_page();
                title(l, true);
            }
        }
        l.y += 12.0;
    }
}

/// Renders a credit note: the parties of the invoice it corrects, what it
/// credits (by line of that invoice, or an amount) and its totals.
pub fn render_credit_note(note: &CreditNote, invoice: &Invoice, look: &Look) -> Result<Vec<u8>> {
    let (width, height) = paper_size(look.paper);
    let f = &invoice.frozen;
    let mut l = Layout::new(height)?;
    let right = width - MARGIN;
    let facts = [
        ("Number", note.number.clone()),
        ("Issue date", note.issue_date.to_string()),
        ("Credits invoice", note.invoice.clone()),
        ("Invoice period", format!("{} to {}", f.draft.first_day, f.draft.last_day)),
    ];
    heading(&mut l, &f.seller, look.logo, ("CREDIT NOTE", &facts, None), right)?;
    bill_to(&mut l, &f.buyer);
    l.y += 10.0;
    let reason = l.fit(Face::Regular, 9.0, &format!("Reason: {}", note.reason), right - MARGIN);
    l.left(MARGIN, Face::Regular, 9.0, 0.25, &reason);
    l.y += 26.0;

    let c = Columns { description: MARGIN, quantity_right: right - 120.0, unit_price_right: None, amount_right: right };
    let header = |l: &mut Layout| {
        l.left(c.description, Face::Bold, 9.0, GREY, "Description");
        l.right(c.quantity_right, Face::Bold, 9.0, GREY, "Tax");
        l.right(c.amount_right, Face::Bold, 9.0, GREY, &format!("Net ({})", note.currency));
        l.y += 15.0;
        l.rule(c.description, c.amount_right, 0.6, 0.6);
        l.y += 6.0;
    };
    header(&mut l);
    for line in &note.lines {
        if l.room_left() < 20.0 {
            l.break_page();
            l.left(MARGIN, Face::Regular, 9.0, GREY, &format!("Credit note {} (continued)", note.number));
            l.y += 20.0;
            header(&mut l);
        }
        let text = match line.line {
            Some(n) => format!("Line {n}: {}", line.description),
            None => line.description.clone(),
        };
        let text = l.fit(Face::Regular, 10.0, &text, c.quantity_right - c.description - 90.0);
        l.left(c.description, Face::Regular, 10.0, 0.1, &text);
        l.right(c.quantity_right, Face::Regular, 10.0, 0.1, &group_digits(&line.tax.to_string()));
        l.right(c.amount_right, Face::Regular, 10.0, 0.1, &group_digits(&line.net.to_string()));
        l.y += 18.0;
    }
    l.rule(c.description, c.amount_right, 0.6, 0.6);
    l.y += 10.0;
    let mut rows = vec![
        ("Subtotal".to_string(), note.subtotal.to_string(), false),
        (tax_label(f.draft.tax_rate.as_ref(), f.tax_exempt.as_ref()), note.tax.to_string(), false),
        ("Total credited".to_string(), format!("{} {}", group_digits(&note.total.to_string()), note.currency), true),
    ];
    let returned = note.credits_returned.0;
    if !returned.is_zero() {
        rows.push(("Returned to prepaid credit".to_string(), note.credits_returned.to_string(), false));
    }
    totals(&mut l, rows, right);
    let mut owed_less = note.total.0 - returned;
    owed_less.rescale(note.total.0.scale());
    let first = if returned.is_zero() {
        format!(
            "This credit note reduces what is owed on invoice {} by {} {}.",
            note.invoice, note.total, note.currency
        )
    } else {
        format!(
            "This credit note reduces what is owed on invoice {} by {owed_less} {} and returns {} {} to prepaid credit.",
            note.invoice, note.currency, note.credits_returned, note.currency
        )
    };
    let footer = [first, f.seller.name.clone()];
    let id = format!("{:x}", sha2::Sha256::digest(format!("{}\n{}", invoice.hash, note.number)));
    let meta = Meta {
        title: "Credit note",
        author: &f.seller.name,
        subject: format!("{}: credit on invoice {}", f.buyer.name, note.invoice),
        issued: note.issue_date,
    };
    finish(l, &meta, &note.number, &footer, &id, width)
}

/// A customer's statement of account (docs/billing.md "Payments, reminders
/// and sending"): per currency, the opening balance, each line with the
/// balance after it, the closing balance, the open items and their ages.
pub fn render_statement(
    statement: &Statement,
    seller: &Party,
    look: &Look,
    issued: chrono::NaiveDate,
) -> Result<Vec<u8>> {
    const ROW: f32 = 15.0;
    let (width, height) = paper_size(look.paper);
    let mut l = Layout::new(height)?;
    let right = width - MARGIN;
    let facts =
        [("From", statement.from.to_string()), ("To", statement.to.to_string()), ("Issue date", issued.to_string())];
    heading(&mut l, seller, look.logo, ("STATEMENT", &facts, None), right)?;
    let buyer =
        Party { name: statement.customer_name.clone(), address: statement.address.clone(), tax_id: None, email: None };
    bill_to(&mut l, &buyer);
    l.y += 16.0;
    // Date, document, description, then debit, credit and balance right-aligned.
    let (date_x, document_x, description_x) = (MARGIN, MARGIN + 58.0, MARGIN + 146.0);
    let (debit_right, credit_right, balance_right) = (right - 140.0, right - 70.0, right);
    let description_width = debit_right - 58.0 - description_x;
    if statement.currencies.is_empty() {
        l.left(MARGIN, Face::Regular, 10.0, 0.1, "No invoices, credit notes or payments, and nothing owed.");
        l.y += ROW;
    }
    for cs in &statement.currencies {
        let header = |l: &mut Layout, continued: bool| {
            let title = format!("Account in {}{}", cs.currency, if continued { " (continued)" } else { "" });
            l.left(MARGIN, Face::Bold, 11.0, 0.1, &title);
            l.y += 18.0;
            for (x, text, right_aligned) in [
                (date_x, "Date", false),
                (document_x, "Document", false),
                (description_x, "Description", false),
                (debit_right, "Debit", true),
                (credit_right, "Credit", true),
                (balance_right, "Balance", true),
            ] {
                if right_aligned {
                    l.right(x, Face::Bold, 8.5, GREY, text);
                } else {
                    l.left(x, Face::Bold, 8.5, GREY, text);
                }
            }
            l.y += 13.0;
            l.rule(MARGIN, right, 0.6, 0.6);
            l.y += 5.0;
        };
        if l.room_left() < 120.0 {
            l.break_page();
        }
        header(&mut l, false);
        let amount = |v: &Dec| group_digits(&v.to_string());
        l.left(description_x, Face::Regular, 9.0, 0.1, &format!("Balance on {}", statement.from));
        l.right(balance_right, Face::Bold, 9.0, 0.1, &amount(&cs.opening_balance));
        l.y += ROW;
        for line in &cs.lines {
            let wrapped = wrap(&l, Face::Regular, 9.0, &line.description, description_width, 2);
            if l.room_left() < ROW * wrapped.len() as f32 + 10.0 {
                l.break_page();
                header(&mut l, true);
            }
            l.left(date_x, Face::Regular, 9.0, 0.1, &line.date.to_string());
            l.left(document_x, Face::Regular, 9.0, 0.1, &line.document);
            for (k, text) in wrapped.iter().enumerate() {
                l.text_at(description_x, l.y + 9.0 + 11.0 * k as f32, Face::Regular, 9.0, 0.1, text);
            }
            if !line.debit.0.is_zero() {
                l.right(debit_right, Face::Regular, 9.0, 0.1, &amount(&line.debit));
            }
            if !line.credit.0.is_zero() {
                l.right(credit_right, Face::Regular, 9.0, 0.1, &amount(&line.credit));
            }
            l.right(balance_right, Face::Regular, 9.0, 0.1, &amount(&line.balance));
            l.y += ROW + 11.0 * (wrapped.len() - 1) as f32;
        }
        l.rule(MARGIN, right, 0.6, 0.6);
        l.y += 6.0;
        let closing = format!("{} {}", amount(&cs.closing_balance), cs.currency);
        totals(&mut l, vec![(format!("Balance on {}", statement.to), closing, true)], right);
        if cs.closing_balance.0.is_sign_negative() && !cs.closing_balance.0.is_zero() {
            l.left(MARGIN, Face::Regular, 9.0, 0.25, "A negative balance is what was paid beyond what is owed.");
            l.y += ROW;
        }
        // The open items and their ages.
        let needed = 60.0 + ROW * cs.open_items.len().min(5) as f32;
        if l.room_left() < needed {
            l.break_page();
        }
        l.y += 8.0;
        l.left(MARGIN, Face::Bold, 10.0, 0.1, &format!("Open items on {}", statement.to));
        l.y += 16.0;
        if cs.open_items.is_empty() {
            l.left(MARGIN, Face::Regular, 9.0, 0.25, "Nothing is owed.");
            l.y += ROW;
        }
        for item in &cs.open_items {
            if l.room_left() < ROW + 10.0 {
                l.break_page();
            }
            l.left(date_x, Face::Regular, 9.0, 0.1, &item.number);
            let when = if item.days_overdue > 0 {
                format!("issued {}, due {}: {} days overdue", item.issue_date, item.due_date, item.days_overdue)
            } else {
                format!("issued {}, due {}", item.issue_date, item.due_date)
            };
            l.left(description_x, Face::Regular, 9.0, 0.1, &when);
            l.right(balance_right, Face::Regular, 9.0, 0.1, &amount(&item.owed));
            l.y += ROW;
        }
        l.y += 6.0;
        if l.room_left() < 50.0 {
            l.break_page();
        }
        let column = (right - MARGIN) / 6.0;
        let ages = meterdesk_rules::figures::Age::ALL.iter().map(|a| a.label().to_string());
        for (k, label) in ages.chain(["Total owed".to_string()]).enumerate() {
            l.right(MARGIN + column * (k + 1) as f32, Face::Bold, 8.5, GREY, &label);
        }
        l.y += 13.0;
        for (k, value) in cs.aging.iter().chain([&cs.total_owed]).enumerate() {
            let face = if k == 5 { Face::Bold } else { Face::Regular };
            l.right(MARGIN + column * (k + 1) as f32, face, 9.5, 0.1, &amount(value));
        }
        l.y += ROW + 14.0;
    }
    let footer = [
        format!("Statement of account of {} from {} to {}.", statement.customer_name, statement.from, statement.to),
        seller.name.clone(),
    ];
    let key = crate::statement::key(statement);
    let id = format!(
        "{:x}",
        sha2::Sha256::digest(serde_json::to_string(statement).map_err(|e| Error::Internal(e.to_string()))?)
    );
    let meta = Meta {
        title: "Statement",
        author: &seller.name,
        subject: format!("{}: {} to {}", statement.customer_name, statement.from, statement.to),
        issued,
    };
    finish(l, &meta, &key, &footer, &id, width)
}

/// `text` in lines of at most `max` points, broken between words; at most
/// `lines` of them, the last cut with "…" if it still does not fit.
fn wrap(l: &Layout, face: Face, size: f32, text: &str, max: f32, lines: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        let candidate = if current.is_empty() { word.to_string() } else { format!("{current} {word}") };
        if l.text_width(face, size, &candidate) <= max || current.is_empty() {
            current = candidate;
        } else {
            out.push(std::mem::replace(&mut current, word.to_string()));
        }
    }
    out.push(current);
    if out.len() > lines {
        let rest = out.split_off(lines - 1).join(" ");
        out.push(rest);
    }
    out.into_iter().map(|line| l.fit(face, size, &line, max)).collect()
}

/// The statement of `customer` from `from` to `to` as a PDF, issued `today`
/// by the workspace's company, on its paper and with its logo.
pub fn statement_document(
    conn: &rusqlite::Connection,
    customer: &str,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    today: chrono::NaiveDate,
) -> Result<(Statement, Vec<u8>)> {
    let statement = crate::statement::build(conn, customer, from, to)?;
    let settings = crate::settings::get(conn)?;
    let logo = crate::settings::logo(conn)?.map(|(_, bytes)| bytes);
    let seller = Party {
        name: settings.company_name.clone(),
        address: settings.address.clone(),
        tax_id: settings.tax_id.clone(),
        email: None,
    };
    let look = Look { paper: settings.paper, usage_appendix: false, logo: logo.as_deref() };
    let bytes = render_statement(&statement, &seller, &look, today)?;
    Ok((statement, bytes))
}

/// The PDF of a finalized invoice or credit note by number, on `paper` or the
/// workspace's paper setting.
pub fn document(conn: &rusqlite::Connection, number: &str, paper: Option<Paper>) -> Result<Vec<u8>> {
    let settings = crate::settings::get(conn)?;
    let paper = paper.unwrap_or(settings.paper);
    // The logo an invoice was finalized with, also on its credit notes.
    let logo_of = |invoice: &Invoice| -> Result<Option<Vec<u8>>> {
        invoice.frozen.logo.as_deref().map(|hash| crate::settings::image(conn, hash)).transpose().map(Option::flatten)
    };
    if let Some(found) = crate::invoice::get(conn, number)? {
        let logo = logo_of(&found)?;
        return render(&found, &Look { paper, usage_appendix: settings.usage_appendix, logo: logo.as_deref() });
    }
    let note = crate::credit::get(conn, number)?
        .ok_or_else(|| Error::NotFound(format!("no invoice or credit note {number}")))?;
    let invoice = crate::invoice::get(conn, &note.invoice)?
        .ok_or_else(|| Error::Internal(format!("{number} credits {}, which is missing", note.invoice)))?;
    let logo = logo_of(&invoice)?;
    render_credit_note(&note, &invoice, &Look { paper, usage_appendix: false, logo: logo.as_deref() })
}

/// printpdf writes a random document id (`/ID [(…32…)(…32…)]`); the invoice's
/// hash takes its place, as many bytes, so the cross-reference offsets hold.
fn fix_document_id(bytes: &mut [u8], hash: &str) {
    let Some(at) = bytes.windows(3).rposition(|w| w == b"/ID") else { return };
    let id: Vec<u8> = hash.bytes().chain(std::iter::repeat(b'0')).take(64).collect();
    let mut written = 0;
    let mut i = at + 3;
    while i < bytes.len() && written < 2 {
        if bytes[i] == b'(' {
            let start = i + 1;
            let Some(len) = bytes[start..].iter().position(|&b| b == b')') else { return };
            let take = len.min(32);
            bytes[start..start + take].copy_from_slice(&id[written * 32..written * 32 + take]);
            written += 1;
            i = start + len;
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bill::tests::{CATALOG, apply, october};
    use crate::invoice;
    use crate::workspace::Workspace;
    use chrono::TimeZone;

    /// Globex's October invoice of the example catalog (a prorated fee, tiers,
    /// an override, a commitment true-up, a discount and tax).
    pub(crate) fn globex_invoice() -> invoice::Invoice {
        let mut ws = Workspace::in_memory().unwrap();
        apply(
            &mut ws,
            &CATALOG.replace(
                r#""name": "Globex Corp","#,
                r#""name": "Globex Corp — Zürich", "address": ["Bahnhofstraße 1", "8001 Zürich"],"#,
            ),
        );
        october(&mut ws);
        let now = chrono::Utc.with_ymd_and_hms(2026, 11, 2, 15, 0, 0).unwrap();
        invoice::finalize_month(&mut ws, crate::month("2026-10"), None, now).unwrap().invoices.remove(0)
    }

    fn pdftotext(bytes: &[u8]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.pdf");
        std::fs::write(&path, bytes).unwrap();
        let out = std::process::Command::new("pdftotext").args(["-layout"]).arg(&path).arg("-").output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn the_pdf_says_what_the_invoice_says_and_is_deterministic() {
        let invoice = globex_invoice();
        let bytes = render(&invoice, &Look::plain(Paper::A4)).unwrap();
        assert_eq!(render(&invoice, &Look::plain(Paper::A4)).unwrap(), bytes, "the same invoice gives the same bytes");
        assert!(bytes.len() < 50_000, "{} bytes", bytes.len());
        let text = pdftotext(&bytes);
        for needle in [
            "INV-2026-00001",
            "Globex Corp — Zürich",
            "Bahnhofstraße 1",
            "Platform fee",
            "54.29",
            "LLM tokens — gpt-4o",
            "1,600,000",
            "7.40",
            "API calls",
            "0.40",
            "Minimum commitment true-up",
            "61.39",
            "Launch",
            "-32.85",
            "295.63",
            "Tax 20%",
            "59.13",
            "354.76 USD",
            "2026-10-01 to 2026-10-31",
            "17 of 31 days of 99.00 = 54.29",
            "up to 1000000: 1,000,000 × 0.000005 = 5.00",
            // Tier arithmetic rounded for reading: 600,000 × 0.000004 is 2.4 exactly.
            "600,000 × 0.000004 = 2.40",
            "Unit price",
            "10% of 328.48",
            "2026-12-02",
            "page 1 of 1",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
        }
        let letter = render(&invoice, &Look::plain(Paper::Letter)).unwrap();
        assert_ne!(letter, bytes);
    }

    /// docs/billing.md "Spend caps" across the seams: a charge held at its own
    /// maximum and the subscription's cap, with the discount and tax after
    /// them, in the draft, the finalized invoice and its PDF.
    #[test]
    fn a_spend_cap_with_a_charge_cap_a_discount_and_tax_previews_finalizes_and_prints() {
        let mut ws = Workspace::in_memory().unwrap();
        let capped_seats = CATALOG.replace(
            r#"{ "meter": "seats", "model": "volume","#,
            r#"{ "meter": "seats", "model": "volume", "maximum": "150.00","#,
        );
        assert_ne!(capped_seats, CATALOG);
        apply(&mut ws, &capped_seats);
        october(&mut ws);
        // 100,000,000 more gpt-4o tokens in October: 400.00 more.
        crate::bill::tests::events(
            &mut ws,
            &[serde_json::json!({ "id": "big", "customer": "globex", "type": "tokens",
                "timestamp": "2026-10-28T12:00:00Z", "properties": { "model": "gpt-4o", "tokens": 100_000_000 } })],
        );
        // Globex's own cap: 600.00 a month, over the plan's 500.00 commitment.
        let now = chrono::Utc.with_ymd_and_hms(2026, 11, 2, 15, 0, 0).unwrap();
        let sub = crate::subscription::get(ws.conn(), "sub_globex").unwrap().unwrap().fields;
        let maximum = Some("600.00".parse().unwrap());
        ws.write(|tx| crate::subscription::set_terms(tx, "sub_globex", sub.overrides, sub.discounts, maximum, now))
            .unwrap();
        let draft = crate::bill::preview_customer(&mut ws, "globex", crate::month("2026-10")).unwrap().remove(0);
        let lines: Vec<(LineKind, String)> = draft.lines.iter().map(|l| (l.kind, l.amount.to_string())).collect();
        // Fee 54.29; tokens 1,000,000 × 0.000005 + 100,600,000 × 0.000004 = 407.40; calls 0.40;
        // storage 25.00; seats 180.00 held at 150.00. Usage 582.80 against 600 × 17/31 = 329.03:
        // cap −253.77. Launch 10% of 383.32 = 38.33 → 344.99; tax 20% 69.00 → 413.99.
        assert_eq!(
            lines,
            [
                (LineKind::Fee, "54.29".into()),
                (LineKind::Usage, "407.40".into()),
                (LineKind::Usage, "0.40".into()),
                (LineKind::Usage, "25.00".into()),
                (LineKind::Usage, "150.00".into()),
                (LineKind::Cap, "-253.77".into()),
                (LineKind::Discount, "-38.33".into()),
            ]
        );
        assert_eq!(
            (draft.subtotal.to_string(), draft.tax.to_string(), draft.total.to_string()),
            ("344.99".into(), "69.00".into(), "413.99".into())
        );
        let seats = &draft.lines[4];
        assert_eq!(seats.steps.last().unwrap().kind, StepKind::Cap);
        assert_eq!(seats.steps.last().unwrap().amount.to_string(), "-30.00");
        let allowance = draft.allowance.clone().unwrap();
        assert_eq!((allowance.used.to_string(), allowance.limit.to_string()), ("582.80".into(), "329.03".into()));
        // Finalized as previewed, and printed with the cap and the usage against it.
        let invoice =
            invoice::finalize_month(&mut ws, crate::month("2026-10"), Some("globex"), now).unwrap().invoices.remove(0);
        assert_eq!(invoice.frozen.draft.lines, draft.lines);
        assert_eq!(invoice.frozen.draft.allowance, draft.allowance);
        let text = pdftotext(&render(&invoice, &Look::plain(Paper::A4)).unwrap());
        for needle in [
            "Spend cap",
            "-253.77",
            "usage 582.80 less the maximum 329.03",
            "180.00 held at the charge's maximum 150.00: -30.00",
            "413.99 USD",
            "Usage 582.80 of the 329.03 USD cap: 253.77 above the cap is not billed.",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
        }
        // The plan's own cap applies once the subscription's is removed, and the
        // catalog refuses one below the commitment, by its path.
        let sub = crate::subscription::get(ws.conn(), "sub_globex").unwrap().unwrap().fields;
        let below = Some("400.00".parse().unwrap());
        let e = ws
            .write(|tx| crate::subscription::set_terms(tx, "sub_globex", sub.overrides, sub.discounts, below, now))
            .unwrap_err();
        assert_eq!(e.problems()[0].path, "maximum", "{e}");
    }

    #[test]
    fn the_invoice_says_how_to_pay_with_the_details_it_was_issued_with() {
        let mut ws = Workspace::in_memory().unwrap();
        // The catalog's workspace.payment, with spaces and small letters as people type them.
        let with_bank = CATALOG.replace(
            r#""timezone": "America/New_York" }"#,
            r#""timezone": "America/New_York", "payment": { "payee": "Acme AI GmbH",
               "iban": "de89 3704 0044 0532 0130 00", "bic": "cobadeffxxx" } }"#,
        );
        assert_ne!(with_bank, CATALOG);
        apply(&mut ws, &with_bank);
        october(&mut ws);
        let now = chrono::Utc.with_ymd_and_hms(2026, 11, 2, 15, 0, 0).unwrap();
        let invoice =
            invoice::finalize_month(&mut ws, crate::month("2026-10"), Some("globex"), now).unwrap().invoices.remove(0);
        let text = pdftotext(&render(&invoice, &Look::plain(Paper::A4)).unwrap());
        for needle in [
            "How to pay",
            "Please pay 354.76 USD by 2026-12-02 to:",
            "Payee: Acme AI GmbH",
            "IBAN: DE89 3704 0044 0532 0130 00",
            "BIC: COBADEFFXXX",
            "Reference: INV-2026-00001",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
        }
        // The bank changes later: the invoice keeps the account it was issued with.
        let mut settings = crate::settings::get(ws.conn()).unwrap();
        settings.payment.as_mut().unwrap().iban = Some("GB82WEST12345698765432".into());
        settings.payment.as_mut().unwrap().bic = None;
        ws.write(|tx| crate::settings::update(tx, settings.clone())).unwrap();
        let again = invoice::get(ws.conn(), "INV-2026-00001").unwrap().unwrap();
        assert!(pdftotext(&render(&again, &Look::plain(Paper::A4)).unwrap()).contains("IBAN: DE89 3704"));
        // A mistyped IBAN is refused by its field, and nothing changes.
        settings.payment.as_mut().unwrap().iban = Some("GB82WEST12345698765423".into());
        let err = ws.write(|tx| crate::settings::update(tx, settings)).unwrap_err();
        assert_eq!(err.problems()[0].path, "payment.iban");
        assert_eq!(
            crate::settings::get(ws.conn()).unwrap().payment.unwrap().iban.as_deref(),
            Some("GB82WEST12345698765432")
        );
        // Without details, the invoice prints no such block.
        assert!(!pdftotext(&render(&globex_invoice(), &Look::plain(Paper::A4)).unwrap()).contains("How to pay"));
    }

    /// What a real decoder (zbarimg) reads from the codes on `page` of the PDF,
    /// rendered at 150 dpi as a scanner would see it.
    pub(crate) fn scan_codes(bytes: &[u8], page: u32) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let pdf = dir.path().join("i.pdf");
        std::fs::write(&pdf, bytes).unwrap();
        let out = std::process::Command::new("pdftoppm")
            .args(["-r", "150", "-png", "-singlefile", "-f", &page.to_string(), "-l", &page.to_string()])
            .arg(&pdf)
            .arg(dir.path().join("page"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let out = std::process::Command::new("zbarimg")
            .args(["--xml", "-q", "-Sdisable", "-Sqrcode.enable"])
            .arg(dir.path().join("page.png"))
            .output()
            .expect("zbarimg (Debian's zbar-tools) decodes the payment code: run scripts/install.sh");
        // zbarimg exits 4 when it found no code.
        assert!(out.status.success() || out.status.code() == Some(4), "{}", String::from_utf8_lossy(&out.stderr));
        // One <data><![CDATA[…]]></data> per code found (a payload has empty lines of its own).
        let xml = String::from_utf8(out.stdout).unwrap();
        xml.split("<data><![CDATA[").skip(1).map(|rest| rest.split("]]></data>").next().unwrap().to_string()).collect()
    }

    #[test]
    fn a_euro_invoice_carries_a_sepa_code_a_banking_app_reads() {
        let mut ws = Workspace::in_memory().unwrap();
        let euros = CATALOG.replace("USD", "EUR").replace(
            r#""timezone": "America/New_York" }"#,
            r#""timezone": "America/New_York", "payment": { "payee": "Acme AI GmbH",
               "iban": "DE89 3704 0044 0532 0130 00", "bic": "COBADEFFXXX" } }"#,
        );
        apply(&mut ws, &euros);
        october(&mut ws);
        let now = chrono::Utc.with_ymd_and_hms(2026, 11, 2, 15, 0, 0).unwrap();
        let invoice =
            invoice::finalize_month(&mut ws, crate::month("2026-10"), Some("globex"), now).unwrap().invoices.remove(0);
        assert_eq!(invoice.frozen.draft.amount_due.to_string(), "354.76");
        let bytes = render(&invoice, &Look::plain(Paper::A4)).unwrap();
        let codes = scan_codes(&bytes, 1);
        assert_eq!(
            codes,
            ["BCD\n002\n1\nSCT\nCOBADEFFXXX\nAcme AI GmbH\nDE89370400440532013000\nEUR354.76\n\n\nINV-2026-00001"],
            "the code's fields: service tag, version, UTF-8, credit transfer, BIC, payee, IBAN, amount, \
             (no purpose, no structured reference), the invoice's number"
        );
        assert!(pdftotext(&bytes).contains("Scan to pay with a banking app"));
        // On Letter paper the code reads the same.
        assert_eq!(scan_codes(&render(&invoice, &Look::plain(Paper::Letter)).unwrap(), 1), codes);
        // A dollar invoice with the same details prints the details and no code.
        let dollars = globex_invoice();
        assert!(scan_codes(&render(&dollars, &Look::plain(Paper::A4)).unwrap(), 1).is_empty());
    }

    #[test]
    fn the_pdf_names_its_title_author_and_issue_date_and_prices_per_unit() {
        let invoice = globex_invoice();
        let bytes = render(&invoice, &Look::plain(Paper::A4)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.pdf");
        std::fs::write(&path, &bytes).unwrap();
        let out = std::process::Command::new("pdfinfo").arg(&path).output().unwrap();
        let info = String::from_utf8(out.stdout).unwrap();
        let field = |name: &str| {
            info.lines().find(|l| l.starts_with(name)).map(|l| l[name.len()..].trim().to_string()).unwrap_or_default()
        };
        assert_eq!(field("Title:"), "Invoice INV-2026-00001");
        assert_eq!(field("Author:"), invoice.frozen.seller.name);
        assert_eq!(field("Subject:"), "Globex Corp — Zürich: 2026-10-01 to 2026-10-31");
        // The issue date, whenever it is rendered.
        assert!(field("CreationDate:").contains("Nov  2 00:00:00 2026"), "{info}");
        // A per-unit price (API calls, overridden at 0.0008) in its column; a price per token per million.
        let text = pdftotext(&bytes);
        let calls = text.lines().find(|l| l.trim_start().starts_with("API calls")).unwrap();
        assert!(calls.contains("0.0008"), "{calls}");
        let mut tokens = invoice.clone();
        let line = &mut tokens.frozen.draft.lines[1];
        line.steps.truncate(1);
        line.steps[0].kind = crate::pricing::StepKind::Units;
        line.steps[0].unit_price = crate::money::Dec("0.0000025".parse().unwrap());
        let text = pdftotext(&render(&tokens, &Look::plain(Paper::A4)).unwrap());
        let row = text.lines().find(|l| l.contains("LLM tokens — gpt-4o")).unwrap();
        assert!(row.contains("2.5 per 1M"), "{row}");
    }

    #[test]
    fn a_cjk_or_emoji_name_was_dropped_from_the_page_and_its_text() {
        let mut invoice = globex_invoice();
        let buyer = "株式会社グローベックス 🚀";
        invoice.frozen.buyer.name = buyer.into();
        invoice.frozen.buyer.address = vec!["서울특별시 강남구 테헤란로 1".into(), "❤️ Ünïcødé \u{F8FF} end".into()];
        invoice.frozen.draft.lines[0].description = "Platform fee 平台费 👍".into();
        let bytes = render(&invoice, &Look::plain(Paper::A4)).unwrap();
        assert_eq!(render(&invoice, &Look::plain(Paper::A4)).unwrap(), bytes, "still deterministic");
        let text = pdftotext(&bytes);
        for needle in [buyer, "서울특별시 강남구 테헤란로 1", "Platform fee 平台费 👍", "INV-2026-00001"]
        {
            assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
        }
        // What no face draws (a variation selector, a private character) is
        // still in the text layer, whole.
        assert!(text.contains("❤\u{FE0F} Ünïcødé \u{F8FF} end"), "{text}");
        // The fallback faces are embedded, subset: the PDF stays small.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("i.pdf"), &bytes).unwrap();
        let fonts = std::process::Command::new("pdffonts").arg(dir.path().join("i.pdf")).output().unwrap();
        let fonts = String::from_utf8_lossy(&fonts.stdout);
        for face in ["F1", "F2", "F3", "F4"] {
            assert!(fonts.lines().any(|l| l.starts_with(face) && l.contains(" yes ")), "{face} not embedded:\n{fonts}");
        }
        assert!(bytes.len() < 120_000, "{} bytes", bytes.len());
        // A Latin invoice embeds no fallback.
        let plain = render(&globex_invoice(), &Look::plain(Paper::A4)).unwrap();
        std::fs::write(dir.path().join("p.pdf"), &plain).unwrap();
        let fonts = std::process::Command::new("pdffonts").arg(dir.path().join("p.pdf")).output().unwrap();
        let fonts = String::from_utf8_lossy(&fonts.stdout);
        assert!(fonts.contains("\nF2 ") && !fonts.contains("\nF3 ") && !fonts.contains("\nF4 "), "{fonts}");
        if let Some(out) = std::env::var_os("METERDESK_PDF_OUT") {
            std::fs::write(std::path::Path::new(&out).join("cjk.pdf"), &bytes).unwrap();
        }
    }

    #[test]
    fn runs_draw_each_character_from_the_first_face_that_has_it() {
        let (drawn, differs) = runs(Face::Bold, "Acme 株式 🚀!").unwrap();
        let slots: Vec<(Slot, &str)> = drawn.iter().map(|(s, t)| (*s, t.as_str())).collect();
        assert_eq!(
            slots,
            [(Slot::Bold, "Acme "), (Slot::Cjk, "株式"), (Slot::Bold, " "), (Slot::Symbols, "🚀"), (Slot::Bold, "!")]
        );
        assert!(!differs, "everything drawn as written");
        let (drawn, differs) = runs(Face::Regular, "서울 東京 ✓").unwrap();
        let slots: Vec<(Slot, &str)> = drawn.iter().map(|(s, t)| (*s, t.as_str())).collect();
        assert_eq!(slots, [(Slot::Cjk, "서울"), (Slot::Regular, " "), (Slot::Cjk, "東京"), (Slot::Regular, " ✓")]);
        assert!(!differs);
        let (drawn, differs) = runs(Face::Regular, "a\u{E0101}b\u{F8FF}").unwrap();
        assert_eq!(
            drawn,
            [(Slot::Regular, "ab\u{F8FF}".to_string())],
            "a variation selector is left out, a private character boxed"
        );
        assert!(differs);
        for slot in Slot::ALL {
            slot.font().unwrap();
        }
    }

    #[test]
    fn a_long_invoice_breaks_pages_and_repeats_the_header() {
        let mut invoice = globex_invoice();
        let line = invoice.frozen.draft.lines[1].clone();
        for i in 0..80 {
            let mut l = line.clone();
            l.description = format!("Usage line {i:02}");
            invoice.frozen.draft.lines.push(l);
        }
        let text = pdftotext(&render(&invoice, &Look::plain(Paper::Letter)).unwrap());
        let pages = text.matches("INV-2026-00001 · page").count();
        assert!(pages >= 3, "{pages} pages");
        assert!(text.contains(&format!("page {pages} of {pages}")));
        assert_eq!(text.matches("Amount (USD)").count(), pages, "the table header on every page");
        assert!(text.contains("Usage line 00") && text.contains("Usage line 79"));
    }

    #[test]
    fn a_credit_note_has_its_own_pdf() {
        let mut ws = Workspace::in_memory().unwrap();
        apply(
            &mut ws,
            &CATALOG.replace(r#""name": "Globex Corp","#, r#""name": "Globex Corp", "tax_id": "CHE-123.456.789","#),
        );
        october(&mut ws);
        let now = chrono::Utc.with_ymd_and_hms(2026, 11, 2, 15, 0, 0).unwrap();
        let invoice = invoice::finalize_month(&mut ws, crate::month("2026-10"), None, now).unwrap().invoices.remove(0);
        let note = ws
            .write(|tx| {
                let lines =
                    crate::credit::Request::Lines(vec![(2, "7.40".parse().unwrap()), (3, "0.40".parse().unwrap())]);
                crate::credit::issue(tx, "INV-2026-00001", "Tokens billed twice", &lines, now)
            })
            .unwrap();
        assert_eq!(crate::credit::get(ws.conn(), &note.number).unwrap().as_ref(), Some(&note));
        let bytes = render_credit_note(&note, &invoice, &Look::plain(Paper::A4)).unwrap();
        assert_eq!(render_credit_note(&note, &invoice, &Look::plain(Paper::A4)).unwrap(), bytes, "deterministic");
        let text = pdftotext(&bytes);
        for needle in [
            "CREDIT NOTE",
            "CN-2026-00001",
            "INV-2026-00001",
            "Globex Corp",
            "Tax ID: CHE-123.456.789",
            "Reason: Tokens billed twice",
            "Line 2: LLM tokens — gpt-4o",
            "7.40",
            "Line 3: API calls",
            "0.40",
            "Tax 20%",
            "1.56",
            "9.36 USD",
            "page 1 of 1",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
        }
        // The invoice names the buyer's tax id too.
        assert!(pdftotext(&render(&invoice, &Look::plain(Paper::A4)).unwrap()).contains("Tax ID: CHE-123.456.789"));
    }

    #[test]
    fn a_credit_note_says_what_it_returns_to_prepaid_credit() {
        let mut ws = Workspace::in_memory().unwrap();
        apply(&mut ws, CATALOG);
        october(&mut ws);
        let now = chrono::Utc.with_ymd_and_hms(2026, 11, 2, 15, 0, 0).unwrap();
        let prepaid = crate::wallet::GrantFields {
            id: "prepaid".into(),
            amount: crate::money::Dec("300.00".parse().unwrap()),
            kind: crate::wallet::GrantKind::Paid,
            expires: None,
            priority: 0,
            rollover: None,
            reference: Some("PO-1".into()),
            note: String::new(),
        };
        ws.write(|tx| crate::wallet::grant(tx, "globex", &prepaid, crate::wallet::Origin::Manual, now)).unwrap();
        // 354.76: 300.00 paid by credits, 54.76 due; a 100.00 note credits the 54.76 and returns 45.24.
        let invoice = invoice::finalize_month(&mut ws, crate::month("2026-10"), None, now).unwrap().invoices.remove(0);
        assert_eq!(invoice.frozen.draft.amount_due.to_string(), "54.76");
        let amount = crate::credit::Request::Amount("100.00".parse().unwrap());
        let note = ws.write(|tx| crate::credit::issue(tx, "INV-2026-00001", "Goodwill", &amount, now)).unwrap();
        assert_eq!(note.credits_returned.to_string(), "45.24");
        assert_eq!(crate::wallet::balance(ws.conn(), "globex").unwrap().to_string(), "45.24");
        let bytes = render_credit_note(&note, &invoice, &Look::plain(Paper::A4)).unwrap();
        let text = pdftotext(&bytes);
        for needle in [
            "Total credited",
            "100.00 USD",
            "Returned to prepaid credit",
            "45.24",
            "reduces what is owed on invoice INV-2026-00001 by 54.76 USD and returns 45.24 USD to prepaid credit.",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
        }
    }

    #[test]
    fn the_logo_and_the_usage_appendix_are_printed_and_the_logo_frozen() {
        let logo = include_bytes!("../../../assets/demo-logo.png");
        let mut ws = Workspace::in_memory().unwrap();
        apply(&mut ws, CATALOG);
        october(&mut ws);
        let now = chrono::Utc.with_ymd_and_hms(2026, 11, 2, 15, 0, 0).unwrap();
        // Not an image: refused by its field, nothing stored.
        let err = ws.write(|tx| crate::settings::set_logo(tx, Some(b"GIF89a, no".as_slice()), now)).unwrap_err();
        assert_eq!(err.problems()[0].path, "logo");
        assert!(err.problems()[0].message.starts_with("not a PNG or JPEG image"), "{err}");
        ws.write(|tx| crate::settings::set_logo(tx, Some(logo.as_slice()), now)).unwrap();
        let mut s = crate::settings::get(ws.conn()).unwrap();
        s.usage_appendix = true;
        ws.write(|tx| crate::settings::update(tx, s)).unwrap();

        let invoice = invoice::finalize_month(&mut ws, crate::month("2026-10"), None, now).unwrap().invoices.remove(0);
        let hash = invoice.frozen.logo.clone().expect("the logo is frozen with the invoice");
        let bytes = document(ws.conn(), "INV-2026-00001", None).unwrap();
        let images = {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("i.pdf");
            std::fs::write(&path, &bytes).unwrap();
            let out = std::process::Command::new("pdfimages").arg("-list").arg(&path).output().unwrap();
            String::from_utf8(out.stdout).unwrap()
        };
        // The header, then one image on page 1, 360 × 80 pixels (an RGB image and its alpha mask).
        assert!(
            images
                .lines()
                .nth(2)
                .is_some_and(|l| l.split_whitespace().take(6).eq(["1", "0", "image", "360", "80", "rgb"])),
            "{images}"
        );
        assert_eq!(document(ws.conn(), "INV-2026-00001", None).unwrap(), bytes, "deterministic");
        let text = pdftotext(&bytes);
        let appendix = &text[text.find("Usage detail").expect("an appendix")..];
        for needle in [
            "Line 2: LLM tokens — gpt-4o",
            "total 1,600,000",
            "2026-10-20",
            "1,000,000",
            "2026-10-21",
            "500,000",
            "2026-10-31",
            "100,000",
            "Line 3: API calls",
            "2026-10-25",
            "10,500",
            "page 2 of 2",
        ] {
            assert!(appendix.contains(needle), "{needle:?} missing from:\n{appendix}");
        }
        assert!(!appendix.contains("2026-10-10"), "a day before the subscription is not billed, nor listed");
        // Kept to be looked at (pdftoppm).
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tmp");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("logo-appendix.pdf"), &bytes).unwrap();

        // A new logo, or none, never changes an invoice already finalized; stored images are kept.
        ws.write(|tx| crate::settings::set_logo(tx, None, now)).unwrap();
        assert_eq!(document(ws.conn(), "INV-2026-00001", None).unwrap(), bytes);
        assert!(ws.conn().execute("DELETE FROM images WHERE hash = ?1", [&hash]).is_err());
        // Without the appendix setting the PDF is one page again.
        let mut s = crate::settings::get(ws.conn()).unwrap();
        s.usage_appendix = false;
        ws.write(|tx| crate::settings::update(tx, s)).unwrap();
        assert!(pdftotext(&document(ws.conn(), "INV-2026-00001", None).unwrap()).contains("page 1 of 1"));
    }

    #[test]
    fn digits_are_grouped_as_text() {
        for (given, grouped) in
            [("0", "0"), ("999", "999"), ("1000", "1,000"), ("-1234567.891", "-1,234,567.891"), ("12e3", "12e3")]
        {
            assert_eq!(group_digits(given), grouped);
        }
    }
}
