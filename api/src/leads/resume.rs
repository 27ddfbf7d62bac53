//! What an uploaded résumé really is, judged by its bytes, and a safe name to show for it.

use std::io::{Read, Seek, SeekFrom};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResumeType {
    pub content_type: &'static str,
    pub extension: &'static str,
}

pub const PDF: ResumeType = ResumeType { content_type: "application/pdf", extension: "pdf" };
pub const DOC: ResumeType = ResumeType { content_type: "application/msword", extension: "doc" };
pub const DOCX: ResumeType = ResumeType {
    content_type: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    extension: "docx",
};
pub const ODT: ResumeType = ResumeType { content_type: "application/vnd.oasis.opendocument.text", extension: "odt" };
pub const RTF: ResumeType = ResumeType { content_type: "application/rtf", extension: "rtf" };
pub const TXT: ResumeType = ResumeType { content_type: "text/plain; charset=utf-8", extension: "txt" };

/// How much of the file is read to decide; text must be clean throughout this prefix.
const SNIFF_BYTES: usize = 64 * 1024;
/// Enough for every magic number checked, the longest being OpenDocument's `mimetype` entry.
const MAGIC_BYTES: usize = 128;
const MAX_FILE_NAME_BYTES: usize = 200;

/// Identifies the file by its magic bytes. `Err` carries a short description of what it is
/// instead, for the error message.
pub fn detect<F: Read + Seek>(file: &mut F) -> std::io::Result<Result<ResumeType, String>> {
    file.seek(SeekFrom::Start(0))?;
    // The magic bytes are in the first few dozen bytes: a small block first, not the whole
    // text prefix, which as one 64 KiB block was mapped and unmapped by the allocator for
    // every submission (BENCHMARKS.md).
    let mut head = Vec::with_capacity(MAGIC_BYTES);
    file.by_ref().take(MAGIC_BYTES as u64).read_to_end(&mut head)?;
    let kind = if head.starts_with(b"%PDF-") {
        Ok(PDF)
    } else if head.starts_with(b"{\\rtf") {
        Ok(RTF)
    } else if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        Ok(DOC)
    } else if head.starts_with(b"PK\x03\x04") {
        detect_zip(&head, file)?
    } else {
        // What may be text is read on to the end of its prefix.
        file.by_ref().take((SNIFF_BYTES - head.len()) as u64).read_to_end(&mut head)?;
        detect_text(&head)
    };
    file.seek(SeekFrom::Start(0))?;
    Ok(kind)
}

fn detect_zip<F: Read + Seek>(head: &[u8], file: &mut F) -> std::io::Result<Result<ResumeType, String>> {
    // OpenDocument puts an uncompressed `mimetype` entry first, at a fixed offset.
    if head.get(30..38) == Some(b"mimetype") && head[38..].starts_with(ODT.content_type.as_bytes()) {
        return Ok(Ok(ODT));
    }
    file.seek(SeekFrom::Start(0))?;
    let is_docx = zip::ZipArchive::new(&mut *file)
        .map(|archive| {
            archive.index_for_name("word/document.xml").is_some()
                && archive.index_for_name("[Content_Types].xml").is_some()
        })
        .unwrap_or(false);
    Ok(if is_docx { Ok(DOCX) } else { Err("a ZIP archive that is not a DOCX or ODT document".into()) })
}

fn detect_text(head: &[u8]) -> Result<ResumeType, String> {
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        // The prefix may end inside a multi-byte character.
        Err(e) if e.error_len().is_none() && head.len() == SNIFF_BYTES => {
            std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return Err(describe_binary(head)),
    };
    if text.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{c}')) {
        return Err(describe_binary(head));
    }
    let start = text.trim_start_matches('\u{feff}').trim_start();
    if start.starts_with('<') {
        return Err("markup (HTML, XML or SVG)".into());
    }
    if start.starts_with("#!") {
        return Err("a script".into());
    }
    Ok(TXT)
}

fn describe_binary(head: &[u8]) -> String {
    let what = if head.starts_with(b"MZ") || head.starts_with(b"\x7fELF") || head.starts_with(&[0xCF, 0xFA, 0xED, 0xFE])
    {
        "an executable program"
    } else if head.starts_with(b"\x89PNG") || head.starts_with(&[0xFF, 0xD8, 0xFF]) || head.starts_with(b"GIF8") {
        "an image"
    } else {
        "binary data of an unknown type"
    };
    what.into()
}

/// A display name for the client's filename: no folders, no control characters, bounded
/// length, and the extension of what the file really is.
pub fn sanitize_file_name(raw: &str, kind: ResumeType) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String =
        base.chars().filter(|c| !c.is_control() && !matches!(c, '"' | '<' | '>' | ':' | '|' | '?' | '*')).collect();
    let cleaned = cleaned.trim().trim_matches('.').trim();
    let stem = match cleaned.rsplit_once('.') {
        Some((stem, _)) if !stem.trim().is_empty() => stem.trim(),
        _ => cleaned,
    };
    let stem = if stem.is_empty() { "resume" } else { stem };
    let budget = MAX_FILE_NAME_BYTES - kind.extension.len() - 1;
    let mut end = stem.len().min(budget);
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}.{}", stem[..end].trim_end(), kind.extension)
}

/// `attachment` with an ASCII fallback name and the exact UTF-8 name (RFC 6266 / 5987).
pub fn content_disposition(name: &str) -> String {
    let fallback: String =
        name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' }).collect();
    let encoded = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};

    use super::*;

    fn kind(bytes: &[u8]) -> Result<ResumeType, String> {
        detect(&mut Cursor::new(bytes.to_vec())).unwrap()
    }

    fn zip_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut out);
        for (name, data) in entries {
            let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
            zip.start_file(*name, opts).unwrap();
            zip.write_all(data).unwrap();
        }
        zip.finish().unwrap();
        out.into_inner()
    }

    #[test]
    fn recognises_documents_by_content() {
        assert_eq!(kind(b"%PDF-1.7\n...").unwrap(), PDF);
        assert_eq!(kind(b"{\\rtf1\\ansi hello}").unwrap(), RTF);
        assert_eq!(kind(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0]).unwrap(), DOC);
        assert_eq!(kind("Zoë Smith\nLawyer\n".as_bytes()).unwrap(), TXT);
        let docx = zip_with(&[("[Content_Types].xml", b"<Types/>"), ("word/document.xml", b"<w:document/>")]);
        assert_eq!(kind(&docx).unwrap(), DOCX);
        let odt = zip_with(&[("mimetype", ODT.content_type.as_bytes()), ("content.xml", b"<x/>")]);
        assert_eq!(kind(&odt).unwrap(), ODT);
    }

    #[test]
    fn refuses_disguised_and_dangerous_content() {
        assert!(kind(b"MZ\x90\x00\x03\x00\x00\x00").unwrap_err().contains("executable"));
        assert!(kind(b"\x7fELF\x02\x01").unwrap_err().contains("executable"));
        assert!(kind(b"<!DOCTYPE html><script>alert(1)</script>").unwrap_err().contains("markup"));
        assert!(kind(b"\xef\xbb\xbf  <svg onload=x>").unwrap_err().contains("markup"));
        assert!(kind(b"#!/bin/sh\nrm -rf /").unwrap_err().contains("script"));
        assert!(kind(&zip_with(&[("a.txt", b"x")])).unwrap_err().contains("ZIP"));
        assert!(kind(b"\x89PNG\r\n\x1a\n").unwrap_err().contains("image"));
    }

    #[test]
    fn text_is_judged_on_its_whole_prefix_not_only_the_magic_bytes() {
        let mut text = "Zoë Smith, attorney. ".repeat(400).into_bytes();
        assert_eq!(kind(&text).unwrap(), TXT);
        text[5_000] = 0;
        assert!(kind(&text).unwrap_err().contains("binary"), "a NUL well past the first bytes");
        let mut long = "a".repeat(SNIFF_BYTES - 1).into_bytes();
        long.extend("é and more".as_bytes());
        assert_eq!(kind(&long).unwrap(), TXT, "a character cut at the end of the prefix");
    }

    #[test]
    fn content_disposition_is_safe_for_any_name() {
        assert_eq!(
            content_disposition("CV Zoë.pdf"),
            "attachment; filename=\"CV Zo_.pdf\"; filename*=UTF-8''CV%20Zo%C3%AB%2Epdf"
        );
    }

    #[test]
    fn sanitises_names() {
        assert_eq!(sanitize_file_name("../../etc/passwd", PDF), "passwd.pdf");
        assert_eq!(sanitize_file_name("C:\\Users\\me\\CV 2026.PDF", PDF), "CV 2026.pdf");
        assert_eq!(sanitize_file_name("evil.exe", PDF), "evil.pdf");
        assert_eq!(sanitize_file_name("a\u{0}b\nc.docx", DOCX), "abc.docx");
        assert_eq!(sanitize_file_name("...", TXT), "resume.txt");
        let long = sanitize_file_name(&"é".repeat(10_000), PDF);
        assert!(long.len() <= MAX_FILE_NAME_BYTES && long.ends_with(".pdf"));
    }
}
