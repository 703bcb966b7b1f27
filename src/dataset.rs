//! Datasets: train and test splits of images and labels.
//!
//! API (to be implemented by the IDX/dataset work):
//! ```ignore
//! pub enum DatasetSource { Fashion, Mnist, Dir(PathBuf) }
//! impl Dataset {
//!     pub fn open(src: &DatasetSource) -> Result<Dataset>;
//!     /// For embedding: in-memory u8 arrays (n × rows × cols images).
//!     pub fn from_arrays(name: &str, rows: usize, cols: usize,
//!         train_images: Vec<u8>, train_labels: Vec<u8>,
//!         test_images: Vec<u8>, test_labels: Vec<u8>,
//!         classes: Vec<String>) -> Result<Dataset>;
//!     pub fn name(&self) -> &str;            // "fashion", "mnist" or the dir
//!     pub fn classes(&self) -> &[String];
//!     pub fn train(&self) -> &Split;
//!     pub fn test(&self) -> &Split;
//! }
//! pub enum SplitKind { Train, Test }
//! impl Split {
//!     pub fn len(&self) -> usize;
//!     pub fn rows(&self) -> usize; pub fn cols(&self) -> usize;
//!     pub fn image_len(&self) -> usize;      // rows * cols
//!     pub fn pixels(&self) -> &[u8];         // all images, contiguous, zero-copy
//!     pub fn image(&self, i: usize) -> &[u8];
//!     pub fn labels(&self) -> &[u8];
//!     pub fn label(&self, i: usize) -> u8;
//! }
//! ```
