//! Downloads made in the page: a file from bytes or text, through a Blob and a
//! temporary `<a download>`.

use js_sys::{Array, Uint8Array};
use wasm_bindgen::JsCast;
use web_sys::{Blob, BlobPropertyBag, HtmlAnchorElement, Url};

/// Offers `bytes` as a download named `name`; the error says why the browser refused.
pub fn download_bytes(name: &str, mime: &str, bytes: &[u8]) -> Result<(), String> {
    let parts = Array::new();
    parts.push(&Uint8Array::from(bytes));
    let opts = BlobPropertyBag::new();
    opts.set_type(mime);
    let blob = Blob::new_with_u8_array_sequence_and_options(&parts, &opts).map_err(|e| format!("{e:?}"))?;
    let url = Url::create_object_url_with_blob(&blob).map_err(|e| format!("{e:?}"))?;
    download_url(name, &url)?;
    let _ = Url::revoke_object_url(&url);
    Ok(())
}

pub fn download_text(name: &str, mime: &str, text: &str) -> Result<(), String> {
    download_bytes(name, mime, text.as_bytes())
}

/// Clicks a temporary link to `url` with the `download` attribute.
pub fn download_url(name: &str, url: &str) -> Result<(), String> {
    let doc = gloo::utils::document();
    let a: HtmlAnchorElement = doc.create_element("a").map_err(|e| format!("{e:?}"))?.unchecked_into();
    a.set_href(url);
    a.set_download(name);
    let _ = a.set_attribute("style", "display: none");
    let body = doc.body().ok_or("no document body")?;
    body.append_child(&a).map_err(|e| format!("{e:?}"))?;
    a.click();
    let _ = body.remove_child(&a);
    Ok(())
}
