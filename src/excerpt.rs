//! A short, printable excerpt of an upstream body for error details and logs: the
//! provider's own words (`{"code":0,"msg":"Service unavailable from a restricted
//! location..."}`), whitespace collapsed, control characters dropped, cut to a readable
//! length, and every secret the provider is sent replaced by `***` (a provider that
//! echoes the key it was given must not leak it into an error). Pure.

/// Longest excerpt, in characters.
pub const MAX_CHARS: usize = 160;

/// The excerpt of `body`, or `None` when it holds nothing printable.
pub fn excerpt<S: AsRef<str>>(body: &[u8], secrets: &[S]) -> Option<String> {
    let mut text = String::from_utf8_lossy(body).into_owned();
    for s in secrets.iter().map(AsRef::as_ref).filter(|s| !s.is_empty()) {
        text = text.replace(s, "***");
    }
    let mut out = String::with_capacity(MAX_CHARS + 3);
    let mut chars = 0;
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if c.is_control() || c == char::REPLACEMENT_CHARACTER {
            continue;
        }
        if chars >= MAX_CHARS {
            out.push('…');
            break;
        }
        if space {
            out.push(' ');
            chars += 1;
            space = false;
        }
        out.push(c);
        chars += 1;
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_is_short_printable_and_keeps_no_secret() {
        let body = b"{\"code\":0,\n  \"msg\":\"Service unavailable from a restricted location\"}";
        assert_eq!(
            excerpt::<&str>(body, &[]).as_deref(),
            Some(r#"{"code":0, "msg":"Service unavailable from a restricted location"}"#)
        );
        let echoed = b"{\"error\":\"key sk-live-42 is not valid\"}";
        let e = excerpt(echoed, &["sk-live-42"]).expect("text");
        assert!(!e.contains("sk-live-42") && e.contains("***"), "{e}");
        let long = "x".repeat(1000);
        assert_eq!(excerpt::<&str>(long.as_bytes(), &[]).expect("text").chars().count(), MAX_CHARS + 1);
        assert_eq!(excerpt::<&str>(b" \n\t\x00", &[]), None);
        assert_eq!(excerpt::<&str>(&[0xff, 0xfe, b'o', b'k'], &[]).as_deref(), Some("ok"));
    }
}
