//! Every cap on a size that a file or a flag decides, in one place (the
//! README's "Limits" lists them). Each is far above what fastnn's networks
//! and MNIST-like datasets need, and low enough that no input can make
//! fastnn allocate, write or draw without bound; an input beyond one is
//! refused with one line that names the limit.

/// Classes a network may predict (labels are bytes).
pub const MAX_CLASSES: usize = 256;

/// Classes a folder dataset may imply by its largest label when it has no
/// `classes.txt`: a stray label byte (255) must not silently build a
/// 256-class network. With a `classes.txt`, up to [`MAX_CLASSES`].
pub const MAX_IMPLICIT_CLASSES: usize = 100;

/// Characters of one class name (`classes.txt`, a model's metadata).
pub const MAX_CLASS_NAME_CHARS: usize = 64;

/// Bytes of a `classes.txt` file.
pub const MAX_CLASSES_FILE_BYTES: u64 = 64 << 10;

/// Pixels of one image of a dataset (`rows × cols`): 1024 × 1024.
pub const MAX_IMAGE_PIXELS: usize = 1 << 20;

/// Bytes of the data of one IDX file, raw or decompressed into a cache:
/// 4 GiB (EMNIST's largest file holds 0.55 GB).
pub const MAX_IDX_DATA_BYTES: u64 = 4 << 30;

/// Bytes of a model or checkpoint file.
pub const MAX_MODEL_BYTES: u64 = 2 << 30;

/// Hidden layers of a network.
pub const MAX_HIDDEN_LAYERS: usize = 64;

/// Units of one hidden layer.
pub const MAX_LAYER_WIDTH: usize = 65536;

/// Epochs of a run (also what a checkpoint may claim).
pub const MAX_EPOCHS: usize = 100_000;

/// Bytes of a user's own image file (`predict --image`).
pub const MAX_USER_IMAGE_BYTES: u64 = 32 << 20;

/// Width or height of a user's own image, decoded (`predict --image`).
pub const MAX_USER_IMAGE_SIDE: u32 = 4096;

/// Bytes the image decoder may allocate for a user's own image.
pub const MAX_USER_IMAGE_ALLOC: u64 = 128 << 20;

/// Pixels of one picture fastnn draws (a grid of images or prediction
/// cards): about 50 MB of RGB.
pub const MAX_PICTURE_PIXELS: u64 = 16 << 20;

/// Bytes of a checksum file (`SHA256SUMS`).
pub const MAX_CHECKSUM_FILE_BYTES: u64 = 1 << 20;

/// Class names as fastnn keeps them: control characters (escape sequences,
/// newlines, bells) removed and surrounding space trimmed, so that a name
/// from a file can neither drive the terminal nor break a line; refused
/// (with the message returned) if a name is then empty or longer than
/// [`MAX_CLASS_NAME_CHARS`], or if there are more than [`MAX_CLASSES`].
pub fn clean_class_names(names: Vec<String>) -> Result<Vec<String>, String> {
    if names.len() > MAX_CLASSES {
        return Err(format!(
            "{} class names; at most {MAX_CLASSES} (a limit of fastnn: labels are bytes)",
            names.len()
        ));
    }
    names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let clean: String = name.chars().filter(|c| !c.is_control()).collect();
            let clean = clean.trim().to_string();
            let chars = clean.chars().count();
            if clean.is_empty() {
                Err(format!("class name {} is empty", i + 1))
            } else if chars > MAX_CLASS_NAME_CHARS {
                Err(format!(
                    "class name {} has {chars} characters; at most {MAX_CLASS_NAME_CHARS} (a limit of fastnn)",
                    i + 1
                ))
            } else {
                Ok(clean)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_lose_control_characters_and_are_capped() {
        let names = vec!["\u{1b}[31mred\u{1b}[0m".to_string(), " Bag\u{7}\n".into()];
        assert_eq!(clean_class_names(names).unwrap(), ["[31mred[0m", "Bag"]);
        let long = "x".repeat(MAX_CLASS_NAME_CHARS + 1);
        let err = clean_class_names(vec![long]).unwrap_err();
        assert!(err.contains("at most 64"), "{err}");
        assert!(clean_class_names(vec!["\u{1b}".into()]).is_err());
        let many = (0..=MAX_CLASSES).map(|i| i.to_string()).collect();
        assert!(clean_class_names(many).unwrap_err().contains("at most 256"));
    }
}
