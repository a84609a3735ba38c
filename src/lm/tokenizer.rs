//! A character tokenizer: one id per character of a fixed alphabet.
//!
//! Chosen over byte-level BPE for the built-in model: with ~80 distinct characters
//! the vocabulary fits 128 ids (a multiple of 64, so every group size applies to the
//! embedding and the output head), loss per token *is* loss per character (bits per
//! character need no conversion), and generated text can never split a character.

use std::collections::HashMap;

use super::LmError;

#[derive(Clone, Debug, PartialEq)]
pub struct CharTokenizer {
    /// id → character.
    chars: Vec<char>,
    /// ASCII → id (the built-in alphabet is ASCII).
    ascii: [Option<u32>; 128],
    /// Other characters → id (an alphabet read from a user's file may hold up to V of them:
    /// a map keeps checking and looking them up linear).
    others: HashMap<char, u32>,
}

impl CharTokenizer {
    /// The alphabet in id order; every character at most once.
    pub fn new(chars: Vec<char>) -> Result<CharTokenizer, LmError> {
        let mut ascii = [None; 128];
        let mut others = HashMap::new();
        for (i, &ch) in chars.iter().enumerate() {
            let seen = match ch as u32 {
                c if c < 128 => ascii[c as usize].replace(i as u32).is_some(),
                _ => others.insert(ch, i as u32).is_some(),
            };
            if seen {
                return Err(LmError::Tokens(format!("the alphabet lists {ch:?} twice")));
            }
        }
        Ok(CharTokenizer { chars, ascii, others })
    }

    /// The sorted set of characters of a text.
    pub fn from_text(text: &str) -> CharTokenizer {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        CharTokenizer::new(chars).expect("deduplicated")
    }

    pub fn vocab_len(&self) -> usize {
        self.chars.len()
    }

    pub fn alphabet(&self) -> String {
        self.chars.iter().collect()
    }

    pub fn id(&self, ch: char) -> Option<u32> {
        if (ch as u32) < 128 {
            self.ascii[ch as usize]
        } else {
            self.others.get(&ch).copied()
        }
    }

    /// Text → ids; a character outside the alphabet is an error that names it and its position.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LmError> {
        text.chars()
            .enumerate()
            .map(|(i, ch)| {
                self.id(ch).ok_or_else(|| {
                    LmError::Tokens(format!("character {ch:?} at position {i} is not in the model's alphabet"))
                })
            })
            .collect()
    }

    /// Ids → text; an id outside the alphabet decodes as U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        ids.iter().map(|&i| self.chars.get(i as usize).copied().unwrap_or('\u{FFFD}')).collect()
    }
}
