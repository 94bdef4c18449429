//! The company logo as an image a PDF can draw: PNG or JPEG, decoded and
//! checked once when it is set and again when an invoice draws it.

use printpdf::RawImage;

/// The largest logo, in pixels each way.
const MAX_PIXELS: usize = 4000;

/// The decoded logo, or why the bytes cannot be one.
pub(crate) fn decode(bytes: &[u8]) -> std::result::Result<RawImage, String> {
    let image = RawImage::decode_from_bytes(bytes, &mut Vec::new())
        .map_err(|e| format!("not a PNG or JPEG image that can be read ({e})"))?;
    if image.width == 0 || image.height == 0 || image.width > MAX_PIXELS || image.height > MAX_PIXELS {
        return Err(format!("{} × {} pixels: a logo is 1 to {MAX_PIXELS} pixels each way", image.width, image.height));
    }
    Ok(image)
}
