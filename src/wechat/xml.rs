//! Parsing and building the XML of WeChat Official Account callbacks.
//!
//! WeChat's callback XML is flat: a `<xml>` root whose children are leaf
//! elements (text or CDATA). A few events nest one level deeper (`<List>`,
//! `<ScanCodeInfo>`, ...); those leaves are kept in [`InboundMessage::extra`]
//! under their path, e.g. `List/TemplateId`.
//!
//! The parser is deliberately strict about structure and lenient about
//! content: malformed XML, a missing required element and any DOCTYPE (the
//! door to XXE and entity expansion) are errors, while unknown elements,
//! message types and events parse fine.

use quick_xml::Reader;
use quick_xml::escape::{escape, resolve_predefined_entity};
use quick_xml::events::{BytesRef, Event};

/// Errors from parsing callback XML. Never a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// Not well-formed XML (unclosed or mismatched tags, stray text, ...).
    #[error("malformed XML: {0}")]
    Malformed(String),
    /// The document has a DOCTYPE. Callbacks never do; refusing it rules out
    /// XXE and entity-expansion attacks.
    #[error("DOCTYPE declarations are not allowed")]
    DocTypeNotAllowed,
    /// An entity reference other than the five predefined ones or a
    /// character reference.
    #[error("entity references other than the predefined ones are not allowed")]
    UnknownEntity,
    /// The document has no root element.
    #[error("document has no root element")]
    NoRoot,
    /// The root element is not `<xml>`.
    #[error("expected root element <xml>, found <{0}>")]
    UnexpectedRoot(String),
    /// A required element is absent or empty.
    #[error("missing required element <{0}>")]
    MissingField(&'static str),
    /// A known element appears more than once.
    #[error("element <{0}> appears more than once")]
    DuplicateField(&'static str),
    /// A numeric element does not hold an `i64`.
    #[error("element <{0}> is not a valid integer")]
    InvalidNumber(&'static str),
}

/// The body of a safe-mode (or compatible-mode) callback POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedEnvelope {
    /// Our account id (`gh_...`). WeChat sends it, but it is not required here.
    pub to_user_name: Option<String>,
    /// The base64 ciphertext to pass to `MessageCrypto::decrypt_verified`.
    pub encrypt: String,
}

/// A plaintext (or decrypted) callback message or event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    /// Our account id (`gh_...`).
    pub to_user_name: String,
    /// The sender's openid.
    pub from_user_name: String,
    /// Unix seconds, as sent by WeChat.
    pub create_time: i64,
    /// `text`, `image`, `event`, ... kept as sent (compare case-insensitively).
    pub msg_type: String,
    /// `MsgId` of messages, or `MsgID` of job-finish events. Can exceed `i32`.
    pub msg_id: Option<i64>,
    /// `Content` of text messages.
    pub content: Option<String>,
    /// `Event` of event pushes (`subscribe`, `SCAN`, `CLICK`, ...), kept as sent.
    pub event: Option<String>,
    /// `EventKey` (`qrscene_<scene>` on a QR subscribe, the scene on `SCAN`).
    pub event_key: Option<String>,
    /// `Ticket` of QR-code events.
    pub ticket: Option<String>,
    /// Every other leaf element, in document order: (path below the root, text).
    pub extra: Vec<(String, String)>,
}

/// A typed view of the messages qshare acts on; see [`InboundMessage::kind`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageKind {
    /// A text message from a follower.
    Text { content: String },
    /// A new follower. `scene` is set when they followed by scanning a
    /// parameterised QR code (`EventKey` = `qrscene_<scene>`).
    Subscribe { scene: Option<String> },
    /// The user unfollowed.
    Unsubscribe,
    /// An existing follower scanned a parameterised QR code.
    Scan { scene: String },
    /// Anything else (other message types and events).
    Other,
}

impl InboundMessage {
    /// Classifies the message. `MsgType` and `Event` compare case-insensitively
    /// (WeChat sends `subscribe` in lower case but `SCAN` in upper case).
    pub fn kind(&self) -> MessageKind {
        if self.msg_type.eq_ignore_ascii_case("text") {
            return match &self.content {
                Some(content) => MessageKind::Text {
                    content: content.clone(),
                },
                None => MessageKind::Other,
            };
        }
        if !self.msg_type.eq_ignore_ascii_case("event") {
            return MessageKind::Other;
        }
        let Some(event) = self.event.as_deref() else {
            return MessageKind::Other;
        };
        let key = self.event_key.as_deref().unwrap_or("");
        if event.eq_ignore_ascii_case("subscribe") {
            // A plain subscribe carries no EventKey or an empty one.
            let scene = key
                .strip_prefix("qrscene_")
                .filter(|scene| !scene.is_empty())
                .map(str::to_owned);
            MessageKind::Subscribe { scene }
        } else if event.eq_ignore_ascii_case("unsubscribe") {
            MessageKind::Unsubscribe
        } else if event.eq_ignore_ascii_case("scan") && !key.is_empty() {
            MessageKind::Scan {
                scene: key.to_owned(),
            }
        } else {
            MessageKind::Other
        }
    }

    /// A key that is identical for WeChat's retries of one push and distinct
    /// otherwise, for `SET NX EX` de-duplication.
    ///
    /// WeChat documents `MsgId` for messages and `FromUserName + CreateTime`
    /// for events. MsgId alone has been seen to collide (binarywang/WxJava
    /// #333), so like WxJava the sender and time are always included, and
    /// events also include the event key.
    pub fn dedup_key(&self) -> String {
        match self.msg_id {
            Some(id) => format!("msg:{id}:{}:{}", self.from_user_name, self.create_time),
            None => format!(
                "event:{}:{}:{}:{}",
                self.from_user_name,
                self.create_time,
                self.event.as_deref().unwrap_or(""),
                self.event_key.as_deref().unwrap_or("")
            ),
        }
    }

    /// The text of an element kept in [`extra`](Self::extra), e.g. `Status`
    /// of a `TEMPLATESENDJOBFINISH` event. Returns the first match.
    pub fn extra_field(&self, path: &str) -> Option<&str> {
        self.extra
            .iter()
            .find(|(name, _)| name == path)
            .map(|(_, value)| value.as_str())
    }
}

/// Parses a safe-mode request body `<xml><ToUserName/><Encrypt/></xml>`.
/// Other elements (compatible mode also sends the plaintext fields) are ignored.
pub fn parse_encrypted_envelope(body: &str) -> Result<EncryptedEnvelope, XmlError> {
    let mut to_user_name = None;
    let mut encrypt = None;
    for (name, value) in parse_leaves(body)? {
        match name.as_str() {
            "ToUserName" => set_once(&mut to_user_name, "ToUserName", value)?,
            "Encrypt" => set_once(&mut encrypt, "Encrypt", value)?,
            _ => {}
        }
    }
    Ok(EncryptedEnvelope {
        to_user_name,
        encrypt: required(encrypt, "Encrypt")?,
    })
}

/// Parses a plaintext (or decrypted) message or event.
///
/// `ToUserName`, `FromUserName`, `CreateTime` and `MsgType` are required and
/// must be non-empty; everything else is optional.
pub fn parse_message(xml: &str) -> Result<InboundMessage, XmlError> {
    let mut to_user_name = None;
    let mut from_user_name = None;
    let mut create_time = None;
    let mut msg_type = None;
    let mut msg_id = None;
    let mut content = None;
    let mut event = None;
    let mut event_key = None;
    let mut ticket = None;
    let mut extra = Vec::new();

    for (name, value) in parse_leaves(xml)? {
        match name.as_str() {
            "ToUserName" => set_once(&mut to_user_name, "ToUserName", value)?,
            "FromUserName" => set_once(&mut from_user_name, "FromUserName", value)?,
            "CreateTime" => set_once(&mut create_time, "CreateTime", value)?,
            "MsgType" => set_once(&mut msg_type, "MsgType", value)?,
            // Messages spell it MsgId, job-finish events MsgID.
            "MsgId" | "MsgID" => set_once(&mut msg_id, "MsgId", value)?,
            "Content" => set_once(&mut content, "Content", value)?,
            "Event" => set_once(&mut event, "Event", value)?,
            "EventKey" => set_once(&mut event_key, "EventKey", value)?,
            "Ticket" => set_once(&mut ticket, "Ticket", value)?,
            _ => extra.push((name, value)),
        }
    }

    let create_time = required(create_time, "CreateTime")?;
    let create_time = parse_i64(&create_time, "CreateTime")?;
    let msg_id = match msg_id {
        Some(id) if !id.trim().is_empty() => Some(parse_i64(&id, "MsgId")?),
        _ => None,
    };
    Ok(InboundMessage {
        to_user_name: required(to_user_name, "ToUserName")?,
        from_user_name: required(from_user_name, "FromUserName")?,
        create_time,
        msg_type: required(msg_type, "MsgType")?,
        msg_id,
        content,
        event,
        event_key,
        ticket,
        extra,
    })
}

/// The passive text reply. `to_openid` is the incoming `FromUserName`,
/// `from_account` the incoming `ToUserName`.
///
/// Text goes into CDATA sections; a `]]>` inside is split across two sections
/// so it survives, and characters XML 1.0 cannot carry (most C0 controls) are
/// dropped so the reply is always well-formed.
pub fn text_reply(to_openid: &str, from_account: &str, create_time: i64, content: &str) -> String {
    format!(
        "<xml>\n<ToUserName>{}</ToUserName>\n<FromUserName>{}</FromUserName>\n\
         <CreateTime>{create_time}</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n\
         <Content>{}</Content>\n</xml>",
        cdata(to_openid),
        cdata(from_account),
        cdata(content),
    )
}

/// The safe-mode reply envelope. `timestamp` and `nonce` must be exactly the
/// strings that were signed into `msg_signature`.
pub fn encrypted_reply(encrypt: &str, msg_signature: &str, timestamp: &str, nonce: &str) -> String {
    format!(
        "<xml>\n<Encrypt>{}</Encrypt>\n<MsgSignature>{}</MsgSignature>\n\
         <TimeStamp>{}</TimeStamp>\n<Nonce>{}</Nonce>\n</xml>",
        cdata(encrypt),
        cdata(msg_signature),
        escape(xml_chars_only(timestamp)),
        cdata(nonce),
    )
}

/// Wraps text in CDATA, splitting the section around any `]]>`.
fn cdata(value: &str) -> String {
    let clean = xml_chars_only(value);
    format!("<![CDATA[{}]]>", clean.replace("]]>", "]]]]><![CDATA[>"))
}

/// Drops characters that XML 1.0 does not allow anywhere, not even escaped.
fn xml_chars_only(value: &str) -> String {
    value
        .chars()
        .filter(|&c| {
            matches!(c,
                '\t' | '\n' | '\r'
                | '\u{20}'..='\u{D7FF}'
                | '\u{E000}'..='\u{FFFD}'
                | '\u{10000}'..='\u{10FFFF}')
        })
        .collect()
}

fn set_once(slot: &mut Option<String>, name: &'static str, value: String) -> Result<(), XmlError> {
    if slot.is_some() {
        return Err(XmlError::DuplicateField(name));
    }
    *slot = Some(value);
    Ok(())
}

fn required(value: Option<String>, name: &'static str) -> Result<String, XmlError> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(XmlError::MissingField(name)),
    }
}

fn parse_i64(value: &str, name: &'static str) -> Result<i64, XmlError> {
    value
        .trim()
        .parse()
        .map_err(|_| XmlError::InvalidNumber(name))
}

/// An element being read.
struct Frame {
    name: String,
    text: String,
    has_children: bool,
}

/// Reads a whole document and returns the leaf elements below the `<xml>`
/// root as (path, text) in document order. Text of elements that have child
/// elements (indentation whitespace) is dropped.
fn parse_leaves(xml: &str) -> Result<Vec<(String, String)>, XmlError> {
    // Defaults: end tag names are checked, a bare `&` is an error, and
    // entities are never expanded by quick-xml itself.
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<Frame> = Vec::new();
    let mut leaves = Vec::new();
    let mut seen_root = false;

    loop {
        let event = reader
            .read_event()
            .map_err(|e| XmlError::Malformed(e.to_string()))?;
        match event {
            Event::DocType(_) => return Err(XmlError::DocTypeNotAllowed),
            Event::Start(start) => {
                let name = start.name().as_ref().to_owned();
                open(&mut stack, &mut seen_root, name)?;
            }
            Event::Empty(start) => {
                let name = start.name().as_ref().to_owned();
                open(&mut stack, &mut seen_root, name)?;
                close(&mut stack, &mut leaves)?;
            }
            // quick-xml has already checked that the end tag matches.
            Event::End(_) => close(&mut stack, &mut leaves)?,
            Event::Text(text) => push_text(&mut stack, &text.xml10_content())?,
            Event::CData(data) => push_text(&mut stack, &data.xml10_content())?,
            Event::GeneralRef(reference) => {
                let resolved = resolve_reference(&reference)?;
                push_text(&mut stack, &resolved)?;
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }

    if !stack.is_empty() {
        return Err(XmlError::Malformed("unexpected end of document".into()));
    }
    if !seen_root {
        return Err(XmlError::NoRoot);
    }
    Ok(leaves)
}

fn open(stack: &mut Vec<Frame>, seen_root: &mut bool, name: String) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(parent) => parent.has_children = true,
        None => {
            if *seen_root {
                return Err(XmlError::Malformed("more than one root element".into()));
            }
            if name != "xml" {
                return Err(XmlError::UnexpectedRoot(clip(&name)));
            }
            *seen_root = true;
        }
    }
    stack.push(Frame {
        name,
        text: String::new(),
        has_children: false,
    });
    Ok(())
}

fn close(stack: &mut Vec<Frame>, leaves: &mut Vec<(String, String)>) -> Result<(), XmlError> {
    let frame = stack
        .pop()
        .ok_or_else(|| XmlError::Malformed("unexpected end tag".into()))?;
    // The root itself (now popped, leaving the stack empty) is not a leaf.
    if stack.is_empty() || frame.has_children {
        return Ok(());
    }
    // Path below the root: skip stack[0], which is <xml>.
    let mut path = String::new();
    for ancestor in stack.iter().skip(1) {
        path.push_str(&ancestor.name);
        path.push('/');
    }
    path.push_str(&frame.name);
    leaves.push((path, frame.text));
    Ok(())
}

fn push_text(stack: &mut [Frame], text: &str) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(frame) => {
            frame.text.push_str(text);
            Ok(())
        }
        // Whitespace around the root is fine; anything else is not.
        None if text.chars().all(char::is_whitespace) => Ok(()),
        None => Err(XmlError::Malformed("text outside the root element".into())),
    }
}

/// Resolves `&lt;`-style predefined entities and `&#...;` character
/// references; any other entity is refused (there is no DTD to define it).
fn resolve_reference(reference: &BytesRef<'_>) -> Result<String, XmlError> {
    match reference.resolve_char_ref() {
        Ok(Some(ch)) => return Ok(ch.to_string()),
        Ok(None) => {}
        Err(e) => return Err(XmlError::Malformed(e.to_string())),
    }
    let name = reference.xml10_content();
    resolve_predefined_entity(&name)
        .map(str::to_owned)
        .ok_or(XmlError::UnknownEntity)
}

/// Shortens untrusted text before it goes into an error message.
fn clip(value: &str) -> String {
    value.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference §1.3: easywechat tests/OfficialAccount/ServerTest.php.
    const TEXT_MESSAGE: &str = "<xml>
  <ToUserName><![CDATA[toUser]]></ToUserName>
  <FromUserName><![CDATA[fromUser]]></FromUserName>
  <CreateTime>1348831860</CreateTime>
  <MsgType><![CDATA[text]]></MsgType>
  <Content><![CDATA[this is a test]]></Content>
  <MsgId>1234567890123456</MsgId>
</xml>";

    // Reference §1.3: wechatpy tests/test_events.py.
    const SUBSCRIBE: &str = "<xml>
    <ToUserName><![CDATA[toUser]]></ToUserName>
    <FromUserName><![CDATA[FromUser]]></FromUserName>
    <CreateTime>123456789</CreateTime>
    <MsgType><![CDATA[event]]></MsgType>
    <Event><![CDATA[subscribe]]></Event>
</xml>";

    const UNSUBSCRIBE: &str = "<xml>
    <ToUserName><![CDATA[toUser]]></ToUserName>
    <FromUserName><![CDATA[FromUser]]></FromUserName>
    <CreateTime>123456789</CreateTime>
    <MsgType><![CDATA[event]]></MsgType>
    <Event><![CDATA[unsubscribe]]></Event>
</xml>";

    const SUBSCRIBE_QR: &str = "<xml>
    <ToUserName><![CDATA[toUser]]></ToUserName>
    <FromUserName><![CDATA[FromUser]]></FromUserName>
    <CreateTime>123456789</CreateTime>
    <MsgType><![CDATA[event]]></MsgType>
    <Event><![CDATA[subscribe]]></Event>
    <EventKey><![CDATA[qrscene_123123]]></EventKey>
    <Ticket><![CDATA[TICKET]]></Ticket>
</xml>";

    const SCAN: &str = "<xml>
    <ToUserName><![CDATA[toUser]]></ToUserName>
    <FromUserName><![CDATA[FromUser]]></FromUserName>
    <CreateTime>123456789</CreateTime>
    <MsgType><![CDATA[event]]></MsgType>
    <Event><![CDATA[SCAN]]></Event>
    <EventKey><![CDATA[SCENE_VALUE]]></EventKey>
    <Ticket><![CDATA[TICKET]]></Ticket>
</xml>";

    const CLICK: &str = "<xml>
    <ToUserName><![CDATA[toUser]]></ToUserName>
    <FromUserName><![CDATA[FromUser]]></FromUserName>
    <CreateTime>123456789</CreateTime>
    <MsgType><![CDATA[event]]></MsgType>
    <Event><![CDATA[CLICK]]></Event>
    <EventKey><![CDATA[EVENTKEY]]></EventKey>
</xml>";

    // Reference §1.6 V3 and V4: the decrypted plaintexts.
    const EASYWECHAT_DECRYPTED: &str = "<xml><URL><![CDATA[http://wechat.laravel.so/server]]></URL><ToUserName><![CDATA[asdasdasd]]></ToUserName><FromUserName><![CDATA[asdasdasdsadasd]]></FromUserName><CreateTime>1234567898</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello]]></Content><MsgId>12345</MsgId></xml>";
    const WECHATPY_DECRYPTED: &str = "<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n<FromUserName><![CDATA[messense]]></FromUserName>\n<CreateTime>1411525903</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<MsgId>4363689963896700987</MsgId>\n<AgentID>1</AgentID>\n</xml>";

    fn event_xml(event: &str, extra: &str) -> String {
        format!(
            "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[openid-1]]></FromUserName>\
             <CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType>\
             <Event><![CDATA[{event}]]></Event>{extra}</xml>"
        )
    }

    // ---- Messages and events from the reference ----

    #[test]
    fn the_easywechat_text_message_parses_into_all_fields() {
        let msg = parse_message(TEXT_MESSAGE).expect("parse");
        assert_eq!(msg.to_user_name, "toUser");
        assert_eq!(msg.from_user_name, "fromUser");
        assert_eq!(msg.create_time, 1_348_831_860);
        assert_eq!(msg.msg_type, "text");
        assert_eq!(msg.msg_id, Some(1_234_567_890_123_456));
        assert_eq!(msg.content.as_deref(), Some("this is a test"));
        assert_eq!(msg.event, None);
        assert!(msg.extra.is_empty());
        assert_eq!(
            msg.kind(),
            MessageKind::Text {
                content: "this is a test".into()
            }
        );
    }

    #[test]
    fn a_plain_subscribe_event_has_no_scene() {
        let msg = parse_message(SUBSCRIBE).expect("parse");
        assert_eq!(msg.from_user_name, "FromUser");
        assert_eq!(msg.create_time, 123_456_789);
        assert_eq!(msg.event.as_deref(), Some("subscribe"));
        assert_eq!(msg.kind(), MessageKind::Subscribe { scene: None });
    }

    #[test]
    fn a_subscribe_with_an_empty_event_key_has_no_scene() {
        let msg = parse_message(&event_xml("subscribe", "<EventKey><![CDATA[]]></EventKey>"))
            .expect("parse");
        assert_eq!(msg.event_key.as_deref(), Some(""));
        assert_eq!(msg.kind(), MessageKind::Subscribe { scene: None });
    }

    #[test]
    fn an_unsubscribe_event_parses() {
        let msg = parse_message(UNSUBSCRIBE).expect("parse");
        assert_eq!(msg.kind(), MessageKind::Unsubscribe);
    }

    #[test]
    fn a_subscribe_by_qr_code_strips_the_qrscene_prefix() {
        let msg = parse_message(SUBSCRIBE_QR).expect("parse");
        assert_eq!(msg.event_key.as_deref(), Some("qrscene_123123"));
        assert_eq!(msg.ticket.as_deref(), Some("TICKET"));
        assert_eq!(
            msg.kind(),
            MessageKind::Subscribe {
                scene: Some("123123".into())
            }
        );
    }

    #[test]
    fn a_bind_scene_with_a_colon_survives_the_prefix_strip() {
        let msg = parse_message(&event_xml(
            "subscribe",
            "<EventKey><![CDATA[qrscene_bind:abc]]></EventKey>",
        ))
        .expect("parse");
        assert_eq!(
            msg.kind(),
            MessageKind::Subscribe {
                scene: Some("bind:abc".into())
            }
        );
    }

    #[test]
    fn a_scan_event_uses_the_event_key_as_the_scene_without_prefix() {
        let msg = parse_message(SCAN).expect("parse");
        assert_eq!(msg.ticket.as_deref(), Some("TICKET"));
        assert_eq!(
            msg.kind(),
            MessageKind::Scan {
                scene: "SCENE_VALUE".into()
            }
        );
    }

    #[test]
    fn a_click_event_is_other_but_keeps_its_event_key() {
        let msg = parse_message(CLICK).expect("parse");
        assert_eq!(msg.event.as_deref(), Some("CLICK"));
        assert_eq!(msg.event_key.as_deref(), Some("EVENTKEY"));
        assert_eq!(msg.kind(), MessageKind::Other);
    }

    #[test]
    fn msg_type_and_event_compare_case_insensitively() {
        let scan = parse_message(&event_xml("scan", "<EventKey>42</EventKey>")).expect("parse");
        assert_eq!(scan.kind(), MessageKind::Scan { scene: "42".into() });
        let sub = parse_message(&event_xml("SUBSCRIBE", "")).expect("parse");
        assert_eq!(sub.kind(), MessageKind::Subscribe { scene: None });
        let text = TEXT_MESSAGE.replace("[text]", "[TEXT]");
        assert!(matches!(
            parse_message(&text).expect("parse").kind(),
            MessageKind::Text { .. }
        ));
    }

    #[test]
    fn the_decrypted_easywechat_message_parses_and_keeps_its_unknown_url() {
        let msg = parse_message(EASYWECHAT_DECRYPTED).expect("parse");
        assert_eq!(msg.to_user_name, "asdasdasd");
        assert_eq!(msg.from_user_name, "asdasdasdsadasd");
        assert_eq!(msg.create_time, 1_234_567_898);
        assert_eq!(msg.msg_id, Some(12345));
        assert_eq!(
            msg.kind(),
            MessageKind::Text {
                content: "hello".into()
            }
        );
        assert_eq!(
            msg.extra_field("URL"),
            Some("http://wechat.laravel.so/server")
        );
    }

    #[test]
    fn the_decrypted_wechatpy_message_parses_with_a_large_msg_id() {
        let msg = parse_message(WECHATPY_DECRYPTED).expect("parse");
        assert_eq!(msg.from_user_name, "messense");
        assert_eq!(msg.msg_id, Some(4_363_689_963_896_700_987));
        assert_eq!(msg.content.as_deref(), Some("test"));
        assert_eq!(msg.extra_field("AgentID"), Some("1"));
    }

    #[test]
    fn a_msg_id_beyond_i32_parses() {
        let xml = TEXT_MESSAGE.replace("1234567890123456", "1700827132819554304");
        assert_eq!(
            parse_message(&xml).expect("parse").msg_id,
            Some(1_700_827_132_819_554_304)
        );
    }

    #[test]
    fn unknown_message_types_and_events_parse_as_other() {
        let image = "<xml><ToUserName>gh</ToUserName><FromUserName>u</FromUserName><CreateTime>1</CreateTime>\
                     <MsgType>image</MsgType><PicUrl>http://x/y.png</PicUrl><MediaId>m</MediaId><MsgId>9</MsgId></xml>";
        let msg = parse_message(image).expect("parse");
        assert_eq!(msg.kind(), MessageKind::Other);
        assert_eq!(msg.extra_field("PicUrl"), Some("http://x/y.png"));

        let brand_new = parse_message(&event_xml("some_future_event", "<Whatever>1</Whatever>"))
            .expect("parse");
        assert_eq!(brand_new.kind(), MessageKind::Other);

        let no_event = "<xml><ToUserName>gh</ToUserName><FromUserName>u</FromUserName><CreateTime>1</CreateTime>\
                        <MsgType>event</MsgType></xml>";
        assert_eq!(
            parse_message(no_event).expect("parse").kind(),
            MessageKind::Other
        );
    }

    #[test]
    fn a_template_job_finish_event_keeps_msg_id_and_status() {
        let msg = parse_message(&event_xml(
            "TEMPLATESENDJOBFINISH",
            "<MsgID>200163836</MsgID><Status><![CDATA[success]]></Status>",
        ))
        .expect("parse");
        assert_eq!(msg.msg_id, Some(200_163_836));
        assert_eq!(msg.extra_field("Status"), Some("success"));
        assert_eq!(msg.kind(), MessageKind::Other);
    }

    #[test]
    fn a_mass_send_job_finish_event_keeps_its_counters() {
        let msg = parse_message(&event_xml(
            "MASSSENDJOBFINISH",
            "<MsgID>1000001625</MsgID><Status><![CDATA[err(30003)]]></Status><TotalCount>0</TotalCount>\
             <FilterCount>0</FilterCount><SentCount>0</SentCount><ErrorCount>0</ErrorCount>\
             <CopyrightCheckResult><Count>0</Count><ResultList/><CheckState>1</CheckState></CopyrightCheckResult>",
        ))
        .expect("parse");
        assert_eq!(msg.extra_field("Status"), Some("err(30003)"));
        assert_eq!(msg.extra_field("SentCount"), Some("0"));
        assert_eq!(
            msg.extra_field("CopyrightCheckResult/CheckState"),
            Some("1")
        );
        assert_eq!(msg.extra_field("CopyrightCheckResult/ResultList"), Some(""));
    }

    #[test]
    fn repeated_nested_list_elements_are_all_kept_in_order() {
        let msg = parse_message(&event_xml(
            "subscribe_msg_popup_event",
            "<SubscribeMsgPopupEvent>\n  <List>\n    <TemplateId><![CDATA[t1]]></TemplateId>\n    \
             <SubscribeStatusString><![CDATA[accept]]></SubscribeStatusString>\n    <PopupScene>2</PopupScene>\n  </List>\n  \
             <List><TemplateId><![CDATA[t2]]></TemplateId><SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString>\
             <PopupScene>2</PopupScene></List>\n</SubscribeMsgPopupEvent>",
        ))
        .expect("parse");
        let templates: Vec<&str> = msg
            .extra
            .iter()
            .filter(|(name, _)| name == "SubscribeMsgPopupEvent/List/TemplateId")
            .map(|(_, value)| value.as_str())
            .collect();
        assert_eq!(templates, ["t1", "t2"]);
        assert!(
            !msg.extra
                .iter()
                .any(|(name, _)| name == "SubscribeMsgPopupEvent")
        );
    }

    // ---- Dedup keys ----

    #[test]
    fn the_dedup_key_of_a_message_is_based_on_its_msg_id() {
        let msg = parse_message(TEXT_MESSAGE).expect("parse");
        assert_eq!(msg.dedup_key(), "msg:1234567890123456:fromUser:1348831860");
    }

    #[test]
    fn the_dedup_key_of_an_event_uses_sender_time_and_event() {
        let msg = parse_message(SUBSCRIBE_QR).expect("parse");
        assert_eq!(
            msg.dedup_key(),
            "event:FromUser:123456789:subscribe:qrscene_123123"
        );
        let plain = parse_message(SUBSCRIBE).expect("parse");
        assert_eq!(plain.dedup_key(), "event:FromUser:123456789:subscribe:");
    }

    #[test]
    fn a_retried_push_has_the_same_dedup_key_and_different_pushes_do_not() {
        let first = parse_message(CLICK).expect("parse");
        let retry = parse_message(CLICK).expect("parse");
        assert_eq!(first.dedup_key(), retry.dedup_key());

        let other_user = parse_message(&CLICK.replace("[FromUser]", "[OtherUser]")).expect("parse");
        let other_second = parse_message(&CLICK.replace("123456789", "123456790")).expect("parse");
        let other_key = parse_message(&CLICK.replace("EVENTKEY", "OTHER")).expect("parse");
        let other_event = parse_message(&SCAN.replace("SCENE_VALUE", "EVENTKEY")).expect("parse");
        for other in [other_user, other_second, other_key, other_event] {
            assert_ne!(first.dedup_key(), other.dedup_key());
        }
    }

    // ---- Text decoding ----

    #[test]
    fn predefined_entities_and_character_references_are_decoded() {
        let xml = TEXT_MESSAGE.replace(
            "<![CDATA[this is a test]]>",
            "a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos; &#x4e2d;&#25991;",
        );
        let msg = parse_message(&xml).expect("parse");
        assert_eq!(msg.content.as_deref(), Some("a <b> & \"c\" 'd' 中文"));
    }

    #[test]
    fn cdata_content_keeps_its_whitespace_and_markup_characters() {
        let xml = TEXT_MESSAGE.replace("this is a test", "  <b>&amp;</b>\n 你好 ");
        let msg = parse_message(&xml).expect("parse");
        assert_eq!(msg.content.as_deref(), Some("  <b>&amp;</b>\n 你好 "));
    }

    #[test]
    fn an_xml_declaration_comments_and_surrounding_whitespace_are_accepted() {
        let xml =
            format!("\n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- hi -->\n{TEXT_MESSAGE}\n");
        assert_eq!(
            parse_message(&xml).expect("parse").from_user_name,
            "fromUser"
        );
    }

    #[test]
    fn numbers_with_surrounding_whitespace_parse() {
        let xml = TEXT_MESSAGE.replace("<CreateTime>1348831860", "<CreateTime> 1348831860 ");
        assert_eq!(
            parse_message(&xml).expect("parse").create_time,
            1_348_831_860
        );
    }

    // ---- Errors ----

    #[test]
    fn each_missing_required_field_is_reported() {
        let cases = [
            ("<ToUserName><![CDATA[toUser]]></ToUserName>", "ToUserName"),
            (
                "<FromUserName><![CDATA[fromUser]]></FromUserName>",
                "FromUserName",
            ),
            ("<CreateTime>1348831860</CreateTime>", "CreateTime"),
            ("<MsgType><![CDATA[text]]></MsgType>", "MsgType"),
        ];
        for (element, name) in cases {
            let xml = TEXT_MESSAGE.replace(element, "");
            assert_eq!(
                parse_message(&xml),
                Err(XmlError::MissingField(name)),
                "{name}"
            );
        }
    }

    #[test]
    fn an_empty_required_field_counts_as_missing() {
        let xml = TEXT_MESSAGE.replace("<![CDATA[fromUser]]>", "<![CDATA[]]>");
        assert_eq!(
            parse_message(&xml),
            Err(XmlError::MissingField("FromUserName"))
        );
        let xml = TEXT_MESSAGE.replace(
            "<FromUserName><![CDATA[fromUser]]></FromUserName>",
            "<FromUserName/>",
        );
        assert_eq!(
            parse_message(&xml),
            Err(XmlError::MissingField("FromUserName"))
        );
    }

    #[test]
    fn a_non_numeric_create_time_or_msg_id_is_rejected() {
        let xml = TEXT_MESSAGE.replace("1348831860", "yesterday");
        assert_eq!(
            parse_message(&xml),
            Err(XmlError::InvalidNumber("CreateTime"))
        );
        let xml = TEXT_MESSAGE.replace("1234567890123456", "99999999999999999999");
        assert_eq!(parse_message(&xml), Err(XmlError::InvalidNumber("MsgId")));
    }

    #[test]
    fn a_duplicated_known_field_is_rejected() {
        let xml = TEXT_MESSAGE.replace(
            "<MsgId>",
            "<FromUserName><![CDATA[attacker]]></FromUserName><MsgId>",
        );
        assert_eq!(
            parse_message(&xml),
            Err(XmlError::DuplicateField("FromUserName"))
        );
    }

    #[test]
    fn malformed_documents_are_errors() {
        let cases = [
            "",
            "   ",
            "not xml at all",
            "<xml>",
            "<xml><ToUserName>a</xml>",
            "<xml><ToUserName>a</FromUserName></xml>",
            "</xml>",
            "<xml></xml><xml></xml>",
            "<xml></xml>trailing",
            "text<xml></xml>",
            "<xml><Content>a & b</Content></xml>",
            "<xml><Content><![CDATA[unterminated</Content></xml>",
            "<xml><Content>a</Content",
            "<xml>&#x110000;</xml>",
        ];
        for xml in cases {
            for result in [
                parse_message(xml).map(|_| ()),
                parse_encrypted_envelope(xml).map(|_| ()),
            ] {
                assert!(
                    matches!(result, Err(XmlError::Malformed(_) | XmlError::NoRoot)),
                    "{xml:?} gave {result:?}"
                );
            }
        }
    }

    #[test]
    fn a_root_other_than_xml_is_rejected() {
        assert_eq!(
            parse_message("<message><ToUserName>a</ToUserName></message>"),
            Err(XmlError::UnexpectedRoot("message".into()))
        );
        assert_eq!(parse_message(""), Err(XmlError::NoRoot));
    }

    #[test]
    fn a_doctype_with_an_external_entity_is_rejected() {
        let xxe = "<?xml version=\"1.0\"?>\n<!DOCTYPE xml [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n\
                   <xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>\
                   <MsgType>text</MsgType><Content>&xxe;</Content></xml>";
        assert_eq!(parse_message(xxe), Err(XmlError::DocTypeNotAllowed));
        assert_eq!(
            parse_encrypted_envelope(xxe),
            Err(XmlError::DocTypeNotAllowed)
        );
    }

    #[test]
    fn a_billion_laughs_document_is_rejected() {
        let bomb = "<!DOCTYPE xml [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">\
                    <!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]><xml><Encrypt>&c;</Encrypt></xml>";
        assert_eq!(
            parse_encrypted_envelope(bomb),
            Err(XmlError::DocTypeNotAllowed)
        );
    }

    #[test]
    fn an_undeclared_entity_reference_is_rejected() {
        let xml = TEXT_MESSAGE.replace("<![CDATA[this is a test]]>", "&xxe;");
        assert_eq!(parse_message(&xml), Err(XmlError::UnknownEntity));
        let xml = TEXT_MESSAGE.replace("<![CDATA[this is a test]]>", "&#0;");
        assert!(matches!(parse_message(&xml), Err(XmlError::Malformed(_))));
    }

    #[test]
    fn truncated_or_corrupted_input_never_panics() {
        for sample in [
            TEXT_MESSAGE,
            SUBSCRIBE_QR,
            EASYWECHAT_DECRYPTED,
            WECHATPY_DECRYPTED,
        ] {
            for end in (0..sample.len()).filter(|&i| sample.is_char_boundary(i)) {
                let _ = parse_message(&sample[..end]);
                let _ = parse_encrypted_envelope(&sample[..end]);
            }
        }
        let mut rng = rand::rng();
        for _ in 0..500 {
            let mut bytes = TEXT_MESSAGE.as_bytes().to_vec();
            for _ in 0..3 {
                let i = rand::Rng::random_range(&mut rng, 0..bytes.len());
                bytes[i] = rand::Rng::random_range(&mut rng, b' '..=b'~');
            }
            if let Ok(text) = std::str::from_utf8(&bytes) {
                let _ = parse_message(text);
            }
        }
    }

    // ---- Encrypted envelope ----

    #[test]
    fn the_safe_mode_envelope_parses() {
        // WxJava WxCryptUtilTest xmlFormat with the official sample ciphertext.
        let body = "<xml><ToUserName><![CDATA[toUser]]></ToUserName><Encrypt><![CDATA[jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg==]]></Encrypt></xml>";
        let envelope = parse_encrypted_envelope(body).expect("parse");
        assert_eq!(envelope.to_user_name.as_deref(), Some("toUser"));
        assert_eq!(
            envelope.encrypt,
            "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
        );
    }

    #[test]
    fn the_compatible_mode_envelope_ignores_the_plain_fields() {
        let body = TEXT_MESSAGE.replace("</xml>", "  <Encrypt><![CDATA[abcd]]></Encrypt>\n</xml>");
        let envelope = parse_encrypted_envelope(&body).expect("parse");
        assert_eq!(envelope.encrypt, "abcd");
        assert_eq!(envelope.to_user_name.as_deref(), Some("toUser"));
    }

    #[test]
    fn an_envelope_without_an_encrypt_value_is_rejected() {
        assert_eq!(
            parse_encrypted_envelope(TEXT_MESSAGE),
            Err(XmlError::MissingField("Encrypt"))
        );
        assert_eq!(
            parse_encrypted_envelope(
                "<xml><ToUserName>a</ToUserName><Encrypt><![CDATA[]]></Encrypt></xml>"
            ),
            Err(XmlError::MissingField("Encrypt"))
        );
        assert_eq!(
            parse_encrypted_envelope("<xml><Encrypt>a</Encrypt><Encrypt>b</Encrypt></xml>"),
            Err(XmlError::DuplicateField("Encrypt"))
        );
    }

    // ---- Replies ----

    #[test]
    fn a_text_reply_has_the_reference_format() {
        assert_eq!(
            text_reply("fromUser", "toUser", 1_348_831_860, "你好"),
            "<xml>\n<ToUserName><![CDATA[fromUser]]></ToUserName>\n<FromUserName><![CDATA[toUser]]></FromUserName>\n\
             <CreateTime>1348831860</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n\
             <Content><![CDATA[你好]]></Content>\n</xml>"
        );
    }

    #[test]
    fn a_text_reply_parses_back_to_the_same_fields() {
        let reply = text_reply(
            "openid-1",
            "gh_abc",
            1_700_000_000,
            "Rust 异步实战\nhttps://example.com/a/42?x=1&y=<2>",
        );
        let msg = parse_message(&reply).expect("parse");
        assert_eq!(msg.to_user_name, "openid-1");
        assert_eq!(msg.from_user_name, "gh_abc");
        assert_eq!(msg.create_time, 1_700_000_000);
        assert_eq!(
            msg.kind(),
            MessageKind::Text {
                content: "Rust 异步实战\nhttps://example.com/a/42?x=1&y=<2>".into()
            }
        );
    }

    #[test]
    fn a_cdata_terminator_inside_reply_content_is_split_across_sections() {
        let content = "a]]>b ]]]]> ]]>";
        let reply = text_reply("u", "gh", 1, content);
        assert!(reply.contains("<![CDATA[a]]]]><![CDATA[>b"));
        let msg = parse_message(&reply).expect("parse");
        assert_eq!(msg.content.as_deref(), Some(content));
    }

    #[test]
    fn characters_xml_cannot_carry_are_dropped_from_replies() {
        let reply = text_reply("u", "gh", 1, "a\u{0}b\u{1b}c\u{fffe}d\te");
        let msg = parse_message(&reply).expect("parse");
        assert_eq!(msg.content.as_deref(), Some("abcd\te"));
    }

    #[test]
    fn the_encrypted_reply_has_the_reference_format_and_parses_back() {
        let encrypt = "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg==";
        let reply = encrypted_reply(
            encrypt,
            "82c962d39941aa48552f90ef55aa323dc620cc10",
            "1409304348",
            "xxxxxx",
        );
        assert_eq!(
            reply,
            format!(
                "<xml>\n<Encrypt><![CDATA[{encrypt}]]></Encrypt>\n\
                 <MsgSignature><![CDATA[82c962d39941aa48552f90ef55aa323dc620cc10]]></MsgSignature>\n\
                 <TimeStamp>1409304348</TimeStamp>\n<Nonce><![CDATA[xxxxxx]]></Nonce>\n</xml>"
            )
        );
        let envelope = parse_encrypted_envelope(&reply).expect("parse");
        assert_eq!(envelope.encrypt, encrypt);
        assert_eq!(envelope.to_user_name, None);
    }

    #[test]
    fn an_odd_timestamp_in_the_encrypted_reply_is_escaped() {
        let reply = encrypted_reply("e", "s", "1<2&3", "n");
        assert!(reply.contains("<TimeStamp>1&lt;2&amp;3</TimeStamp>"));
        assert!(parse_encrypted_envelope(&reply).is_ok());
    }
}
