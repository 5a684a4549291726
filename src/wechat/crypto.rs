//! WeChat Official Account callback crypto: request signatures and safe-mode
//! ("安全模式") AES message encryption.
//!
//! Protocol summary (see `shared/reference/wechat-protocol.md` §1.2 and §1.5):
//!
//! ```text
//! signature     = hex(sha1(concat(sort([token, timestamp, nonce]))))
//! msg_signature = hex(sha1(concat(sort([token, timestamp, nonce, Encrypt]))))
//! AESKey        = base64_decode(EncodingAESKey + "=")   43 chars -> 32 bytes; IV = AESKey[..16]
//! plain         = random(16) || u32_be(len(msg)) || msg || app_id
//! Encrypt       = base64(AES-256-CBC(PKCS#7 with a 32-byte block(plain)))
//! ```
//!
//! Use [`verify_signature`] on every callback request (it authenticates the
//! source) and, in safe mode, [`MessageCrypto::decrypt_verified`] (which checks
//! `msg_signature` before touching the ciphertext).

use std::fmt;

use aes::Aes256;
use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
use cbc::cipher::array::Array;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// WeChat pads to multiples of 32 bytes, not to the 16-byte AES block. This is
/// why RustCrypto's `Pkcs7` unpadding rejects real messages (pad bytes up to
/// 32), so padding is added and removed by hand.
const PAD_BLOCK: usize = 32;
/// AES block size: the ciphertext must be a whole number of these.
const AES_BLOCK: usize = 16;
/// Length of the random prefix of every encrypted message.
const RANDOM_LEN: usize = 16;
/// Random prefix plus the 4-byte big-endian message length.
const HEADER_LEN: usize = RANDOM_LEN + 4;
/// Length of an EncodingAESKey as shown in the WeChat console.
const ENCODING_AES_KEY_LEN: usize = 43;

/// Decoder for the EncodingAESKey.
///
/// 43 base64 characters carry 258 bits, so the last character has 2 spare bits
/// that WeChat usually leaves non-zero. Python, Go, Java and PHP ignore them;
/// the `base64` crate's `STANDARD` engine rejects them (`InvalidLastSymbol`),
/// so allow trailing bits for the key (and only for the key).
const KEY_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

type Aes256CbcEnc = cbc::Encryptor<Aes256>;
type Aes256CbcDec = cbc::Decryptor<Aes256>;

/// Errors from building a [`MessageCrypto`] or from encrypting/decrypting.
///
/// Messages never contain key material, tokens or message contents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The EncodingAESKey is not 43 base64 characters decoding to 32 bytes.
    #[error("EncodingAESKey must be 43 base64 characters that decode to 32 bytes")]
    BadKey,
    /// The token or the app id is empty.
    #[error("{0} must not be empty")]
    EmptyConfig(&'static str),
    /// `msg_signature` does not match the request.
    #[error("msg_signature does not match")]
    BadSignature,
    /// The ciphertext is not valid base64.
    #[error("ciphertext is not valid base64")]
    BadBase64,
    /// The ciphertext is empty or not a whole number of AES blocks.
    #[error("ciphertext length is not a positive multiple of 16 bytes")]
    BadCiphertextLength,
    /// The PKCS#7 padding (block size 32) is invalid.
    #[error("invalid PKCS#7 padding")]
    BadPadding,
    /// The plaintext is shorter than its header or its length field points
    /// past the end of the data.
    #[error("invalid message length field")]
    BadLength,
    /// The decrypted message is not UTF-8.
    #[error("decrypted message is not valid UTF-8")]
    BadUtf8,
    /// The app id at the end of the plaintext is not ours.
    #[error("decrypted message is addressed to another app id")]
    AppIdMismatch,
    /// The message does not fit the 4-byte length field.
    #[error("message is too long to encrypt")]
    MessageTooLong,
}

/// `signature` of a callback request: sha1 hex of the sorted, concatenated
/// token, timestamp and nonce. Sent on GET verification and on every POST.
pub fn signature(token: &str, timestamp: &str, nonce: &str) -> String {
    sorted_sha1_hex([token, timestamp, nonce])
}

/// `msg_signature` of a safe-mode message: like [`signature`] but the
/// `Encrypt` value is a fourth sorted item.
pub fn msg_signature(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    sorted_sha1_hex([token, timestamp, nonce, encrypt])
}

/// Constant-time check of a request's `signature` query parameter.
pub fn verify_signature(token: &str, timestamp: &str, nonce: &str, signature_hex: &str) -> bool {
    ct_eq_str(&signature(token, timestamp, nonce), signature_hex)
}

/// Constant-time check of a safe-mode request's `msg_signature` query parameter.
pub fn verify_msg_signature(
    token: &str,
    timestamp: &str,
    nonce: &str,
    encrypt: &str,
    msg_signature_hex: &str,
) -> bool {
    ct_eq_str(
        &msg_signature(token, timestamp, nonce, encrypt),
        msg_signature_hex,
    )
}

/// Safe-mode message encryption for one Official Account.
///
/// `Debug` output redacts the token and the key.
#[derive(Clone)]
pub struct MessageCrypto {
    token: String,
    key: [u8; 32],
    app_id: String,
}

impl fmt::Debug for MessageCrypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageCrypto")
            .field("token", &"<redacted>")
            .field("key", &"<redacted>")
            .field("app_id", &self.app_id)
            .finish()
    }
}

impl MessageCrypto {
    /// Builds the crypto from the console settings: token, 43-character
    /// EncodingAESKey and app id.
    pub fn new(token: &str, encoding_aes_key: &str, app_id: &str) -> Result<Self, CryptoError> {
        if token.is_empty() {
            return Err(CryptoError::EmptyConfig("token"));
        }
        if app_id.is_empty() {
            return Err(CryptoError::EmptyConfig("app id"));
        }
        // `len()` counts bytes; any non-ASCII character makes the decode fail below.
        if encoding_aes_key.len() != ENCODING_AES_KEY_LEN {
            return Err(CryptoError::BadKey);
        }
        // WeChat's own SDKs decode `key + "="`; with trailing bits allowed that
        // always yields 32 bytes for 43 valid characters.
        let mut padded = String::with_capacity(ENCODING_AES_KEY_LEN + 1);
        padded.push_str(encoding_aes_key);
        padded.push('=');
        let decoded = KEY_ENGINE
            .decode(padded.as_bytes())
            .map_err(|_| CryptoError::BadKey)?;
        let key: [u8; 32] = decoded.try_into().map_err(|_| CryptoError::BadKey)?;
        Ok(Self {
            token: token.to_owned(),
            key,
            app_id: app_id.to_owned(),
        })
    }

    /// The app id this instance encrypts for and accepts.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// `msg_signature` for an `Encrypt` value, using our token (for replies).
    pub fn sign(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        msg_signature(&self.token, timestamp, nonce, encrypt)
    }

    /// Constant-time check of `msg_signature` using our token.
    pub fn verify(
        &self,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
        msg_signature_hex: &str,
    ) -> bool {
        verify_msg_signature(&self.token, timestamp, nonce, encrypt, msg_signature_hex)
    }

    /// Encrypts a reply (usually XML) with a fresh random 16-byte prefix and
    /// returns the base64 `Encrypt` value.
    pub fn encrypt(&self, plaintext_xml: &str) -> Result<String, CryptoError> {
        self.encrypt_with_random(plaintext_xml, rand::random())
    }

    /// [`encrypt`](Self::encrypt) with a caller-chosen random prefix, so that
    /// the official test vectors can be reproduced. Production code should use
    /// [`encrypt`](Self::encrypt).
    pub fn encrypt_with_random(
        &self,
        plaintext_xml: &str,
        random: [u8; 16],
    ) -> Result<String, CryptoError> {
        let msg = plaintext_xml.as_bytes();
        let msg_len = u32::try_from(msg.len()).map_err(|_| CryptoError::MessageTooLong)?;

        let unpadded_len = HEADER_LEN + msg.len() + self.app_id.len();
        let mut buf = Vec::with_capacity(unpadded_len + PAD_BLOCK);
        buf.extend_from_slice(&random);
        buf.extend_from_slice(&msg_len.to_be_bytes());
        buf.extend_from_slice(msg);
        buf.extend_from_slice(self.app_id.as_bytes());

        // PKCS#7 with block size 32: always 1..=32 bytes, a full block of 32
        // when the data is already aligned.
        let pad = PAD_BLOCK - buf.len() % PAD_BLOCK;
        // `pad` is at most 32, so the cast cannot truncate.
        buf.resize(buf.len() + pad, pad as u8);

        let (blocks, _) = Array::slice_as_chunks_mut(&mut buf);
        Aes256CbcEnc::new(&self.key.into(), &self.iv().into()).encrypt_blocks(blocks);
        Ok(STANDARD.encode(&buf))
    }

    /// Checks `msg_signature` (constant time) and then decrypts. This is the
    /// order WeChat's sample code uses; prefer it over [`decrypt`](Self::decrypt).
    pub fn decrypt_verified(
        &self,
        timestamp: &str,
        nonce: &str,
        msg_signature_hex: &str,
        encrypted_b64: &str,
    ) -> Result<String, CryptoError> {
        if !self.verify(timestamp, nonce, encrypted_b64, msg_signature_hex) {
            return Err(CryptoError::BadSignature);
        }
        self.decrypt(encrypted_b64)
    }

    /// Decrypts an `Encrypt` value and returns the message (usually XML).
    ///
    /// Validates the padding (1..=32 bytes, all equal), the length field, and
    /// that the trailing app id is ours (constant-time). Does **not** check
    /// `msg_signature`; see [`decrypt_verified`](Self::decrypt_verified).
    pub fn decrypt(&self, encrypted_b64: &str) -> Result<String, CryptoError> {
        // Ciphertexts are produced by ordinary encoders, so strict decoding is right here.
        let mut buf = STANDARD
            .decode(encrypted_b64.trim())
            .map_err(|_| CryptoError::BadBase64)?;
        if buf.is_empty() || !buf.len().is_multiple_of(AES_BLOCK) {
            return Err(CryptoError::BadCiphertextLength);
        }
        let (blocks, _) = Array::slice_as_chunks_mut(&mut buf);
        Aes256CbcDec::new(&self.key.into(), &self.iv().into()).decrypt_blocks(blocks);

        let content = strip_pkcs7_32(&buf)?;
        if content.len() < HEADER_LEN {
            return Err(CryptoError::BadLength);
        }
        let (header, rest) = content.split_at(HEADER_LEN);
        let mut len_bytes = [0u8; 4];
        len_bytes.copy_from_slice(&header[RANDOM_LEN..]);
        let msg_len =
            usize::try_from(u32::from_be_bytes(len_bytes)).map_err(|_| CryptoError::BadLength)?;
        if msg_len > rest.len() {
            return Err(CryptoError::BadLength);
        }
        let (msg, trailing_app_id) = rest.split_at(msg_len);
        if !bool::from(trailing_app_id.ct_eq(self.app_id.as_bytes())) {
            return Err(CryptoError::AppIdMismatch);
        }
        String::from_utf8(msg.to_vec()).map_err(|_| CryptoError::BadUtf8)
    }

    /// The IV is the first 16 bytes of the key (a WeChat protocol choice).
    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.key[..16]);
        iv
    }
}

/// Removes PKCS#7 padding with a 32-byte block: the last byte `n` must be in
/// 1..=32 and the last `n` bytes must all equal `n`.
fn strip_pkcs7_32(data: &[u8]) -> Result<&[u8], CryptoError> {
    let pad = usize::from(*data.last().ok_or(CryptoError::BadPadding)?);
    if pad == 0 || pad > PAD_BLOCK || pad > data.len() {
        return Err(CryptoError::BadPadding);
    }
    let (content, padding) = data.split_at(data.len() - pad);
    if padding.iter().any(|&b| usize::from(b) != pad) {
        return Err(CryptoError::BadPadding);
    }
    Ok(content)
}

/// Sorts the items byte-wise (the same order as Python's `sorted` on these
/// ASCII strings), concatenates them and returns the lowercase sha1 hex.
fn sorted_sha1_hex<const N: usize>(mut items: [&str; N]) -> String {
    items.sort_unstable();
    let mut hasher = Sha1::new();
    for item in items {
        hasher.update(item.as_bytes());
    }
    to_hex(&hasher.finalize())
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Constant-time string comparison (length is not secret).
fn ct_eq_str(expected: &str, given: &str) -> bool {
    bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    // V2/V3: WeChat's official sample settings (WxJava WxCryptUtilTest, easywechat tests).
    const OFFICIAL_TOKEN: &str = "pamtest";
    const OFFICIAL_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    const OFFICIAL_APP_ID: &str = "wxb11529c136998cb6";
    const OFFICIAL_TIMESTAMP: &str = "1409304348";
    const OFFICIAL_NONCE: &str = "xxxxxx";
    const OFFICIAL_RANDOM: &[u8; 16] = b"aaaabbbbccccdddd";
    const OFFICIAL_MSG: &str = "我是中文abcd123";
    const OFFICIAL_ENCRYPT: &str =
        "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg==";
    const OFFICIAL_MSG_SIGNATURE: &str = "82c962d39941aa48552f90ef55aa323dc620cc10";

    // V2, second message: WxJava WxCryptUtilTest `replyMsg2` / `afterAesEncrypt2`.
    const WXJAVA_VIDEO_REPLY: &str = "<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName><FromUserName><![CDATA[gh_7f083739789a]]></FromUserName><CreateTime>1407743423</CreateTime><MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0]]></MediaId><Title><![CDATA[testCallBackReplyVideo]]></Title><Description><![CDATA[testCallBackReplyVideo]]></Description></Video></xml>";
    const WXJAVA_VIDEO_ENCRYPT: &str = "jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxlkupqcEcW7ZQweImX9+wLMa0GaUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HLXa5nQvFb3tYPKAlHF3rtTeayNf0QuM+UW/wM9enGIDIJHF7CLHiDNAYxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77bZqJucQHQ04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38YB1fBIz+vBzsYjrTmFQ44YfeEuZ+xRTQwr92vhA9OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/Xka042OlUb1/slTwo4RscuQ+RdxSGvDahxAJ6+EAjLt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspKA5f8GoJ9sv8xmGvZ9Yrf57cExWtnX8aCMMaBropU/1k+hKP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkdPrEeOwofJb";
    const WXJAVA_VIDEO_MSG_SIGNATURE: &str = "ea88b765074e41eb8c7a75b449db34fa2fd560d5";

    // V3: easywechat tests/Kernel/EncryptorTest.php (same key and app id as V2).
    const EASYWECHAT_TIMESTAMP: &str = "1458300676";
    const EASYWECHAT_NONCE: &str = "260774613";
    const EASYWECHAT_MSG_SIGNATURE: &str = "4f3ad57b6989f09f4eb392acce4f9e93942ed890";
    const EASYWECHAT_ENCRYPT: &str = "rTNFcsut4LfGuAFKEUVVpwcaCOTJzOd9twZdIW910jb3k+iicx2uvhttIZ3Qg9Qgty3BEF2xbOrz6boTfb30dMomcgrkTqdFPwnhqbk+kIQ7rZiwny9D7NUrTgA5kpX3KsZvrXzUZyP2x9YOlxbgm572lmxKvM7HAQQhIQ/p6HBmoY30bGXFK0BtIu1pW9TjhOYrLQoU18nWYjWqDA1ynkmOytpv7QRI1P1+0NoxL0q2zO1DgeSvnE8CZGo/o5Ap/WHK5W2RAsinpzN4/LjPnmB6U01I5XCoJoC0GK/yMZycd2Oh8Nq6+wBkC1U85oy0ktOY4nLvsQMLrourmMGdZHuTbqpeJ8Ao/5PRYJ+WBvRUwPfGKBL2+2IKZF49vAJqkcGWSHGE76ZN2erXeuNazf/o9o3lIE3q739o4c8t9QGPe31GT2Go/rOz1BsrASwvauNulCh+++yz+CQzBIuikA==";
    const EASYWECHAT_PLAINTEXT: &str = "<xml><URL><![CDATA[http://wechat.laravel.so/server]]></URL><ToUserName><![CDATA[asdasdasd]]></ToUserName><FromUserName><![CDATA[asdasdasdsadasd]]></FromUserName><CreateTime>1234567898</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello]]></Content><MsgId>12345</MsgId></xml>";

    // V4: wechatpy tests/test_crypto.py (WeCom vectors; the corp id plays the app id role).
    const WECHATPY_TOKEN: &str = "123456";
    const WECHATPY_KEY: &str = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR";
    const WECHATPY_APP_ID: &str = "wx49f0ab532d5d035a";
    const WECHATPY_TIMESTAMP: &str = "1411525903";
    const WECHATPY_NONCE: &str = "461056294";
    const WECHATPY_DECRYPT_MSG_SIGNATURE: &str = "74d92dfeb87ba7c714f89d98870ae5eb62dff26d";
    const WECHATPY_DECRYPT_ENCRYPT: &str = "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=";
    const WECHATPY_DECRYPT_PLAINTEXT: &str = "<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n<FromUserName><![CDATA[messense]]></FromUserName>\n<CreateTime>1411525903</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<MsgId>4363689963896700987</MsgId>\n<AgentID>1</AgentID>\n</xml>";
    const WECHATPY_ENCRYPT_RANDOM: &[u8; 16] = b"1234567890123456";
    const WECHATPY_ENCRYPT_PLAINTEXT: &str = "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>";
    const WECHATPY_ENCRYPT_ENCRYPT: &str = "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3";
    const WECHATPY_ENCRYPT_MSG_SIGNATURE: &str = "407518b7649e86ef23978113f92d27afa9296533";
    const WECHATPY_ECHOSTR_TIMESTAMP: &str = "1411443780";
    const WECHATPY_ECHOSTR_NONCE: &str = "437374425";
    const WECHATPY_ECHOSTR_SIGNATURE: &str = "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96";
    const WECHATPY_ECHOSTR: &str =
        "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==";

    fn official() -> MessageCrypto {
        MessageCrypto::new(OFFICIAL_TOKEN, OFFICIAL_KEY, OFFICIAL_APP_ID).expect("official key")
    }

    fn wechatpy() -> MessageCrypto {
        MessageCrypto::new(WECHATPY_TOKEN, WECHATPY_KEY, WECHATPY_APP_ID).expect("wechatpy key")
    }

    /// AES-256-CBC-decrypts without touching the padding, to inspect raw plaintexts.
    fn raw_decrypt(crypto: &MessageCrypto, encrypted_b64: &str) -> Vec<u8> {
        let mut buf = STANDARD.decode(encrypted_b64).expect("base64");
        let (blocks, tail) = Array::slice_as_chunks_mut(&mut buf);
        assert!(tail.is_empty());
        Aes256CbcDec::new(&crypto.key.into(), &crypto.iv().into()).decrypt_blocks(blocks);
        buf
    }

    /// AES-256-CBC-encrypts arbitrary bytes (a multiple of 16 long) with no
    /// padding, to build malformed ciphertexts.
    fn raw_encrypt(crypto: &MessageCrypto, plain: &[u8]) -> String {
        let mut buf = plain.to_vec();
        let (blocks, tail) = Array::slice_as_chunks_mut(&mut buf);
        assert!(tail.is_empty(), "raw plaintext must be whole AES blocks");
        Aes256CbcEnc::new(&crypto.key.into(), &crypto.iv().into()).encrypt_blocks(blocks);
        STANDARD.encode(&buf)
    }

    /// A well-formed plaintext for `app_id` before padding.
    fn framed(msg: &[u8], app_id: &str) -> Vec<u8> {
        let mut buf = b"0123456789abcdef".to_vec();
        buf.extend_from_slice(&u32::try_from(msg.len()).expect("len").to_be_bytes());
        buf.extend_from_slice(msg);
        buf.extend_from_slice(app_id.as_bytes());
        buf
    }

    // ---- V1: plain `signature` ----

    #[test]
    fn signature_matches_the_wechatpy_get_verification_vector() {
        assert_eq!(
            signature("test", "1410685589", "test"),
            "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"
        );
        assert!(verify_signature(
            "test",
            "1410685589",
            "test",
            "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"
        ));
    }

    #[test]
    fn signature_with_a_changed_last_digit_is_rejected() {
        assert!(!verify_signature(
            "test",
            "1410685589",
            "test",
            "f21891de399b4e33a1a93c9a7b8a8fffb5a443fe"
        ));
    }

    #[test]
    fn signature_of_a_different_length_or_empty_is_rejected() {
        assert!(!verify_signature("test", "1410685589", "test", ""));
        assert!(!verify_signature(
            "test",
            "1410685589",
            "test",
            "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff00"
        ));
    }

    #[test]
    fn signature_does_not_depend_on_argument_order() {
        let expected = signature("b-token", "1700000000", "a-nonce");
        assert_eq!(signature("1700000000", "a-nonce", "b-token"), expected);
        assert_eq!(signature("a-nonce", "b-token", "1700000000"), expected);
        assert_eq!(
            msg_signature("x", "y", "z", "w"),
            msg_signature("w", "z", "y", "x")
        );
    }

    // ---- V2: the official sample ----

    #[test]
    fn official_sample_encrypts_to_the_published_ciphertext() {
        let encrypted = official()
            .encrypt_with_random(OFFICIAL_MSG, *OFFICIAL_RANDOM)
            .expect("encrypt");
        assert_eq!(encrypted, OFFICIAL_ENCRYPT);
    }

    #[test]
    fn official_sample_msg_signature_matches_the_computed_value() {
        assert_eq!(
            msg_signature(
                OFFICIAL_TOKEN,
                OFFICIAL_TIMESTAMP,
                OFFICIAL_NONCE,
                OFFICIAL_ENCRYPT
            ),
            OFFICIAL_MSG_SIGNATURE
        );
        assert_eq!(
            official().sign(OFFICIAL_TIMESTAMP, OFFICIAL_NONCE, OFFICIAL_ENCRYPT),
            OFFICIAL_MSG_SIGNATURE
        );
    }

    #[test]
    fn official_sample_decrypts_back_to_the_chinese_message() {
        let crypto = official();
        assert_eq!(
            crypto.decrypt(OFFICIAL_ENCRYPT).expect("decrypt"),
            OFFICIAL_MSG
        );
        assert_eq!(
            crypto
                .decrypt_verified(
                    OFFICIAL_TIMESTAMP,
                    OFFICIAL_NONCE,
                    OFFICIAL_MSG_SIGNATURE,
                    OFFICIAL_ENCRYPT
                )
                .expect("decrypt"),
            OFFICIAL_MSG
        );
    }

    #[test]
    fn official_sample_plaintext_has_the_documented_layout_and_padding_of_seven() {
        let plain = raw_decrypt(&official(), OFFICIAL_ENCRYPT);
        assert_eq!(&plain[..16], OFFICIAL_RANDOM);
        let len = u32::from_be_bytes([plain[16], plain[17], plain[18], plain[19]]) as usize;
        assert_eq!(len, OFFICIAL_MSG.len());
        assert_eq!(&plain[20..20 + len], OFFICIAL_MSG.as_bytes());
        assert_eq!(
            &plain[20 + len..20 + len + OFFICIAL_APP_ID.len()],
            OFFICIAL_APP_ID.as_bytes()
        );
        assert_eq!(plain.len() % 32, 0);
        assert_eq!(plain.last(), Some(&7));
    }

    #[test]
    fn wxjava_video_reply_encrypts_to_the_published_ciphertext() {
        let crypto = official();
        let encrypted = crypto
            .encrypt_with_random(WXJAVA_VIDEO_REPLY, *OFFICIAL_RANDOM)
            .expect("encrypt");
        assert_eq!(encrypted, WXJAVA_VIDEO_ENCRYPT);
        assert_eq!(
            crypto.decrypt(&encrypted).expect("decrypt"),
            WXJAVA_VIDEO_REPLY
        );
    }

    #[test]
    fn wxjava_video_reply_msg_signature_matches_the_computed_value() {
        assert_eq!(
            msg_signature(
                OFFICIAL_TOKEN,
                OFFICIAL_TIMESTAMP,
                OFFICIAL_NONCE,
                WXJAVA_VIDEO_ENCRYPT
            ),
            WXJAVA_VIDEO_MSG_SIGNATURE
        );
    }

    #[test]
    fn official_sample_with_a_wrong_msg_signature_is_rejected_before_decrypting() {
        // WxJava testValidateSignatureError passes "12345" as the signature.
        let err = official()
            .decrypt_verified(
                OFFICIAL_TIMESTAMP,
                OFFICIAL_NONCE,
                "12345",
                OFFICIAL_ENCRYPT,
            )
            .expect_err("must fail");
        assert_eq!(err, CryptoError::BadSignature);
    }

    // ---- V3: easywechat inbound message (padding 21) ----

    #[test]
    fn easywechat_inbound_message_signature_verifies() {
        assert!(verify_msg_signature(
            OFFICIAL_TOKEN,
            EASYWECHAT_TIMESTAMP,
            EASYWECHAT_NONCE,
            EASYWECHAT_ENCRYPT,
            EASYWECHAT_MSG_SIGNATURE
        ));
    }

    #[test]
    fn easywechat_inbound_message_decrypts_to_the_exact_xml() {
        let plain = official()
            .decrypt_verified(
                EASYWECHAT_TIMESTAMP,
                EASYWECHAT_NONCE,
                EASYWECHAT_MSG_SIGNATURE,
                EASYWECHAT_ENCRYPT,
            )
            .expect("decrypt");
        assert_eq!(plain, EASYWECHAT_PLAINTEXT);
    }

    #[test]
    fn easywechat_inbound_message_has_padding_of_21_which_a_16_byte_pkcs7_unpadder_rejects() {
        let crypto = official();
        let plain = raw_decrypt(&crypto, EASYWECHAT_ENCRYPT);
        assert_eq!(&plain[..16], b"d43123b161a4ba84");
        assert_eq!(plain.last(), Some(&21));
        assert!(plain[plain.len() - 21..].iter().all(|&b| b == 21));
        let app_id_end = plain.len() - 21;
        assert_eq!(
            &plain[app_id_end - OFFICIAL_APP_ID.len()..app_id_end],
            OFFICIAL_APP_ID.as_bytes()
        );

        // The Rust trap from the reference: cbc's Pkcs7 only accepts pads up to 16.
        let mut buf = STANDARD.decode(EASYWECHAT_ENCRYPT).expect("base64");
        let res = Aes256CbcDec::new(&crypto.key.into(), &crypto.iv().into())
            .decrypt_padded::<cbc::cipher::block_padding::Pkcs7>(&mut buf);
        assert!(res.is_err());
    }

    #[test]
    fn easywechat_inbound_message_with_invalid_signature_is_rejected() {
        let err = official()
            .decrypt_verified(
                EASYWECHAT_TIMESTAMP,
                EASYWECHAT_NONCE,
                "invalid-signature",
                EASYWECHAT_ENCRYPT,
            )
            .expect_err("must fail");
        assert_eq!(err, CryptoError::BadSignature);
    }

    #[test]
    fn easywechat_inbound_message_for_another_app_id_is_rejected() {
        let other = MessageCrypto::new(OFFICIAL_TOKEN, OFFICIAL_KEY, "invalid appid").expect("key");
        let err = other
            .decrypt_verified(
                EASYWECHAT_TIMESTAMP,
                EASYWECHAT_NONCE,
                EASYWECHAT_MSG_SIGNATURE,
                EASYWECHAT_ENCRYPT,
            )
            .expect_err("must fail");
        assert_eq!(err, CryptoError::AppIdMismatch);
    }

    #[test]
    fn app_id_that_is_a_prefix_or_extension_of_ours_is_rejected() {
        for app_id in [
            "wxb11529c136998cb",
            "wxb11529c136998cb66",
            "WXB11529C136998CB6",
        ] {
            let other = MessageCrypto::new(OFFICIAL_TOKEN, OFFICIAL_KEY, app_id).expect("key");
            assert_eq!(
                other.decrypt(EASYWECHAT_ENCRYPT),
                Err(CryptoError::AppIdMismatch),
                "{app_id}"
            );
        }
    }

    // ---- V4: wechatpy vectors ----

    #[test]
    fn wechatpy_message_signature_verifies() {
        assert!(wechatpy().verify(
            WECHATPY_TIMESTAMP,
            WECHATPY_NONCE,
            WECHATPY_DECRYPT_ENCRYPT,
            WECHATPY_DECRYPT_MSG_SIGNATURE
        ));
    }

    #[test]
    fn wechatpy_message_decrypts_to_the_exact_xml() {
        let plain = wechatpy()
            .decrypt_verified(
                WECHATPY_TIMESTAMP,
                WECHATPY_NONCE,
                WECHATPY_DECRYPT_MSG_SIGNATURE,
                WECHATPY_DECRYPT_ENCRYPT,
            )
            .expect("decrypt");
        assert_eq!(plain, WECHATPY_DECRYPT_PLAINTEXT);
    }

    #[test]
    fn wechatpy_reply_encrypts_to_the_published_ciphertext_and_signature() {
        let crypto = wechatpy();
        let encrypted = crypto
            .encrypt_with_random(WECHATPY_ENCRYPT_PLAINTEXT, *WECHATPY_ENCRYPT_RANDOM)
            .expect("encrypt");
        assert_eq!(encrypted, WECHATPY_ENCRYPT_ENCRYPT);
        assert_eq!(
            crypto.sign(WECHATPY_TIMESTAMP, WECHATPY_NONCE, &encrypted),
            WECHATPY_ENCRYPT_MSG_SIGNATURE
        );
    }

    #[test]
    fn wechatpy_echostr_signature_verifies_and_decrypts() {
        let crypto = wechatpy();
        let plain = crypto
            .decrypt_verified(
                WECHATPY_ECHOSTR_TIMESTAMP,
                WECHATPY_ECHOSTR_NONCE,
                WECHATPY_ECHOSTR_SIGNATURE,
                WECHATPY_ECHOSTR,
            )
            .expect("decrypt");
        assert_eq!(plain, "5927782489442352469");
    }

    #[test]
    fn wechatpy_echostr_with_a_different_nonce_fails_verification() {
        assert!(!verify_msg_signature(
            WECHATPY_TOKEN,
            WECHATPY_ECHOSTR_TIMESTAMP,
            "437374424",
            WECHATPY_ECHOSTR,
            WECHATPY_ECHOSTR_SIGNATURE
        ));
        let err = wechatpy()
            .decrypt_verified(
                WECHATPY_ECHOSTR_TIMESTAMP,
                "437374424",
                WECHATPY_ECHOSTR_SIGNATURE,
                WECHATPY_ECHOSTR,
            )
            .expect_err("must fail");
        assert_eq!(err, CryptoError::BadSignature);
    }

    // ---- Key handling ----

    #[test]
    fn strict_base64_rejects_the_official_key_but_new_accepts_it() {
        // The base64 trailing-bits trap from the reference.
        let strict = STANDARD.decode(format!("{OFFICIAL_KEY}="));
        assert!(matches!(
            strict,
            Err(base64::DecodeError::InvalidLastSymbol(42, b'G'))
        ));
        assert!(MessageCrypto::new(OFFICIAL_TOKEN, OFFICIAL_KEY, OFFICIAL_APP_ID).is_ok());
        assert!(MessageCrypto::new(WECHATPY_TOKEN, WECHATPY_KEY, WECHATPY_APP_ID).is_ok());
    }

    #[test]
    fn new_rejects_a_key_that_is_not_43_characters() {
        for key in [
            "",
            &OFFICIAL_KEY[..42],
            &format!("{OFFICIAL_KEY}="),
            &format!("{OFFICIAL_KEY}A"),
        ] {
            assert_eq!(
                MessageCrypto::new(OFFICIAL_TOKEN, key, OFFICIAL_APP_ID).expect_err("bad key"),
                CryptoError::BadKey,
                "{key:?}"
            );
        }
    }

    #[test]
    fn new_rejects_a_key_with_characters_outside_base64() {
        let mut key = OFFICIAL_KEY.to_owned();
        key.replace_range(0..1, "*");
        assert_eq!(
            MessageCrypto::new(OFFICIAL_TOKEN, &key, OFFICIAL_APP_ID).expect_err("bad key"),
            CryptoError::BadKey
        );
        // 43 bytes but containing a multi-byte character and an '=' in the middle.
        let with_equals = format!("{}={}", &OFFICIAL_KEY[..20], &OFFICIAL_KEY[21..]);
        assert_eq!(with_equals.len(), 43);
        assert!(MessageCrypto::new(OFFICIAL_TOKEN, &with_equals, OFFICIAL_APP_ID).is_err());
        let with_chinese = format!("中{}", &OFFICIAL_KEY[3..]);
        assert_eq!(with_chinese.len(), 43);
        assert!(MessageCrypto::new(OFFICIAL_TOKEN, &with_chinese, OFFICIAL_APP_ID).is_err());
    }

    #[test]
    fn new_rejects_an_empty_token_or_app_id() {
        assert_eq!(
            MessageCrypto::new("", OFFICIAL_KEY, OFFICIAL_APP_ID).expect_err("empty token"),
            CryptoError::EmptyConfig("token")
        );
        assert_eq!(
            MessageCrypto::new(OFFICIAL_TOKEN, OFFICIAL_KEY, "").expect_err("empty app id"),
            CryptoError::EmptyConfig("app id")
        );
    }

    #[test]
    fn debug_output_and_error_messages_never_contain_key_material() {
        let crypto = official();
        let debug = format!("{crypto:?}");
        assert!(!debug.contains(OFFICIAL_KEY));
        assert!(!debug.contains(OFFICIAL_TOKEN));
        assert!(debug.contains(OFFICIAL_APP_ID));

        let bad_key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF*";
        let err = MessageCrypto::new(OFFICIAL_TOKEN, bad_key, OFFICIAL_APP_ID).expect_err("bad");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(bad_key));
        assert!(!shown.contains("abcdefghij"));

        // An error from decrypting under the wrong app id does not reveal either id.
        let other =
            MessageCrypto::new(OFFICIAL_TOKEN, OFFICIAL_KEY, "wx0000000000000000").expect("key");
        let err = other.decrypt(EASYWECHAT_ENCRYPT).expect_err("mismatch");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(OFFICIAL_APP_ID));
        assert!(!shown.contains("wx0000000000000000"));
    }

    // ---- Negative decrypt cases ----

    #[test]
    fn decrypt_rejects_invalid_base64() {
        assert_eq!(
            official().decrypt("not base64!!"),
            Err(CryptoError::BadBase64)
        );
        assert_eq!(official().decrypt("abc"), Err(CryptoError::BadBase64));
    }

    #[test]
    fn decrypt_rejects_ciphertext_that_is_empty_or_not_whole_blocks() {
        let crypto = official();
        assert_eq!(crypto.decrypt(""), Err(CryptoError::BadCiphertextLength));
        let fifteen = STANDARD.encode([7u8; 15]);
        assert_eq!(
            crypto.decrypt(&fifteen),
            Err(CryptoError::BadCiphertextLength)
        );
        let truncated = STANDARD.encode(&STANDARD.decode(OFFICIAL_ENCRYPT).expect("b64")[..40]);
        assert_eq!(
            crypto.decrypt(&truncated),
            Err(CryptoError::BadCiphertextLength)
        );
    }

    #[test]
    fn decrypt_rejects_padding_of_zero() {
        let crypto = official();
        let mut plain = framed(b"hi", OFFICIAL_APP_ID);
        plain.resize(64, 0);
        assert_eq!(
            crypto.decrypt(&raw_encrypt(&crypto, &plain)),
            Err(CryptoError::BadPadding)
        );
    }

    #[test]
    fn decrypt_rejects_padding_larger_than_32() {
        let crypto = official();
        let mut plain = framed(b"hi", OFFICIAL_APP_ID);
        plain.resize(96, 33);
        assert_eq!(
            crypto.decrypt(&raw_encrypt(&crypto, &plain)),
            Err(CryptoError::BadPadding)
        );
    }

    #[test]
    fn decrypt_rejects_padding_whose_bytes_are_not_all_equal() {
        let crypto = official();
        let mut plain = framed(b"hi", OFFICIAL_APP_ID);
        let pad = 32 - plain.len() % 32;
        plain.resize(plain.len() + pad, u8::try_from(pad).expect("pad"));
        let n = plain.len();
        plain[n - 2] ^= 1;
        assert_eq!(
            crypto.decrypt(&raw_encrypt(&crypto, &plain)),
            Err(CryptoError::BadPadding)
        );
    }

    #[test]
    fn decrypt_rejects_padding_longer_than_the_data() {
        let crypto = official();
        // A single 16-byte block ending in 20: pad is valid in 1..=32 but longer than the data.
        let plain = [20u8; 16];
        assert_eq!(
            crypto.decrypt(&raw_encrypt(&crypto, &plain)),
            Err(CryptoError::BadPadding)
        );
    }

    #[test]
    fn decrypt_rejects_a_tampered_ciphertext() {
        let crypto = official();
        let mut raw = STANDARD.decode(OFFICIAL_ENCRYPT).expect("b64");
        let n = raw.len();
        raw[n - 1] ^= 0x55;
        let tampered = STANDARD.encode(&raw);
        assert!(crypto.decrypt(&tampered).is_err());
    }

    #[test]
    fn decrypt_rejects_a_length_field_beyond_the_data() {
        let crypto = official();
        let mut plain = framed(b"hello", OFFICIAL_APP_ID);
        plain[16..20].copy_from_slice(&1000u32.to_be_bytes());
        let pad = 32 - plain.len() % 32;
        plain.resize(plain.len() + pad, u8::try_from(pad).expect("pad"));
        assert_eq!(
            crypto.decrypt(&raw_encrypt(&crypto, &plain)),
            Err(CryptoError::BadLength)
        );

        let mut plain = framed(b"hello", OFFICIAL_APP_ID);
        plain[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
        let pad = 32 - plain.len() % 32;
        plain.resize(plain.len() + pad, u8::try_from(pad).expect("pad"));
        assert_eq!(
            crypto.decrypt(&raw_encrypt(&crypto, &plain)),
            Err(CryptoError::BadLength)
        );
    }

    #[test]
    fn decrypt_rejects_a_plaintext_shorter_than_the_header() {
        let crypto = official();
        let mut plain = vec![b'r'; 12];
        plain.resize(32, 20);
        assert_eq!(
            crypto.decrypt(&raw_encrypt(&crypto, &plain)),
            Err(CryptoError::BadLength)
        );
    }

    #[test]
    fn decrypt_rejects_a_message_that_is_not_utf8() {
        let crypto = official();
        let mut plain = framed(&[0xff, 0xfe, 0x80], OFFICIAL_APP_ID);
        let pad = 32 - plain.len() % 32;
        plain.resize(plain.len() + pad, u8::try_from(pad).expect("pad"));
        assert_eq!(
            crypto.decrypt(&raw_encrypt(&crypto, &plain)),
            Err(CryptoError::BadUtf8)
        );
    }

    #[test]
    fn decrypt_with_the_wrong_key_fails() {
        let other = MessageCrypto::new(OFFICIAL_TOKEN, WECHATPY_KEY, OFFICIAL_APP_ID).expect("key");
        assert!(other.decrypt(OFFICIAL_ENCRYPT).is_err());
    }

    #[test]
    fn decrypt_ignores_whitespace_around_the_base64() {
        assert_eq!(
            official()
                .decrypt(&format!("\n {OFFICIAL_ENCRYPT}\n"))
                .expect("decrypt"),
            OFFICIAL_MSG
        );
    }

    // ---- Round trips ----

    #[test]
    fn every_message_length_around_the_block_size_round_trips_with_a_full_block_when_aligned() {
        let crypto = official();
        for len in 0..=200 {
            let msg = "a".repeat(len);
            let encrypted = crypto.encrypt(&msg).expect("encrypt");
            let plain = raw_decrypt(&crypto, &encrypted);
            let unpadded = 20 + len + OFFICIAL_APP_ID.len();
            let pad = usize::from(*plain.last().expect("non-empty"));
            assert_eq!(pad, 32 - unpadded % 32, "len {len}");
            assert!((1..=32).contains(&pad));
            if unpadded.is_multiple_of(32) {
                assert_eq!(pad, 32, "aligned data gets a whole block of padding");
            }
            assert_eq!(crypto.decrypt(&encrypted).expect("decrypt"), msg);
        }
    }

    #[test]
    fn random_messages_round_trip_including_chinese_empty_and_long_bodies() {
        let crypto = official();
        let mut rng = rand::rng();
        let mut samples: Vec<String> = vec![
            String::new(),
            OFFICIAL_MSG.to_owned(),
            "<xml><Content><![CDATA[你好，世界 🌏]]></Content></xml>".to_owned(),
            "长".repeat(100_000),
        ];
        for _ in 0..200 {
            let len = rng.random_range(0..600);
            let msg: String = (0..len)
                .map(|_| match rng.random_range(0..3) {
                    0 => rng.random_range('a'..='z'),
                    1 => rng.random_range('\u{4e00}'..='\u{9fa5}'),
                    _ => rng.random::<char>(),
                })
                .collect();
            samples.push(msg);
        }
        for msg in samples {
            let encrypted = crypto.encrypt(&msg).expect("encrypt");
            assert_eq!(crypto.decrypt(&encrypted).expect("decrypt"), msg);
            let ts = rng
                .random_range(1_000_000_000u64..2_000_000_000)
                .to_string();
            let nonce = rng.random::<u32>().to_string();
            let sig = crypto.sign(&ts, &nonce, &encrypted);
            assert_eq!(
                crypto
                    .decrypt_verified(&ts, &nonce, &sig, &encrypted)
                    .expect("decrypt"),
                msg
            );
        }
    }

    #[test]
    fn encrypt_uses_a_fresh_random_prefix_each_time() {
        let crypto = official();
        let a = crypto.encrypt(OFFICIAL_MSG).expect("encrypt");
        let b = crypto.encrypt(OFFICIAL_MSG).expect("encrypt");
        assert_ne!(a, b);
        assert_eq!(crypto.decrypt(&a).expect("a"), OFFICIAL_MSG);
        assert_eq!(crypto.decrypt(&b).expect("b"), OFFICIAL_MSG);
    }

    #[test]
    fn a_message_encrypted_for_one_app_id_is_rejected_by_another() {
        let ours = official();
        let theirs =
            MessageCrypto::new(OFFICIAL_TOKEN, OFFICIAL_KEY, "wx0000000000000000").expect("key");
        let encrypted = theirs.encrypt("<xml/>").expect("encrypt");
        assert_eq!(ours.decrypt(&encrypted), Err(CryptoError::AppIdMismatch));
    }
}
