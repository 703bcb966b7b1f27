//! `fastnn._fastnn`: the Rust side of the Python package. It holds no
//! policy of its own: the scikit-learn estimator (`python/fastnn/`)
//! validates and maps the arguments, and this module hands arrays to the
//! library without copying them (u8 pixels are converted while packing
//! each batch, f32 values are read where they lie) and releases the GIL
//! while the library computes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use fastnn::{
    Activation, AdamConfig, Dataset, DatasetSource, EarlyStopping, Engine, Images, Labels, Loss,
    Monitor, Network, OptimizerConfig, Preprocess, Provenance, Samples, SgdConfig, Split,
    TrainConfig, Trainer,
};
use numpy::ndarray::ArrayView;
use numpy::{
    IxDyn, PyArray1, PyArray2, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyFileNotFoundError, PyFloatingPointError, PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

/// A library error as the Python exception that fits it.
fn py_err(e: fastnn::Error) -> PyErr {
    match &e {
        fastnn::Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            PyFileNotFoundError::new_err(e.to_string())
        }
        fastnn::Error::Io { .. } => PyOSError::new_err(e.to_string()),
        fastnn::Error::Diverged(_) => PyFloatingPointError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

/// Incremented in a forked child (`os.register_at_fork`): a child has
/// none of its parent's threads, so the engines (and trainers holding
/// them) made before the fork are never used there.
static GENERATION: AtomicU64 = AtomicU64::new(0);

type EngineCache = HashMap<(u64, usize), Engine>;
static ENGINES: Mutex<Option<EngineCache>> = Mutex::new(None);

/// The engine of `threads` threads (all cores for `None`), made once per
/// thread count and process.
fn engine(threads: Option<usize>) -> PyResult<Engine> {
    let n = match threads {
        Some(n) => n,
        None => fastnn::available_cores().min(fastnn::MAX_THREADS),
    };
    let generation = GENERATION.load(Ordering::SeqCst);
    let mut cache = ENGINES.lock().unwrap_or_else(|p| p.into_inner());
    let cache = cache.get_or_insert_with(HashMap::new);
    if let Some(e) = cache.get(&(generation, n)) {
        return Ok(e.clone());
    }
    let e = Engine::new(n).map_err(py_err)?;
    cache.insert((generation, n), e.clone());
    Ok(e)
}

/// Called in a forked child: from now on, engines and trainers are made
/// anew. The parent's stay in the cache, never used and never dropped
/// (their threads do not exist here); the cache is not even locked, in
/// case the fork caught another thread holding the lock.
#[pyfunction]
fn _after_fork_in_child() {
    GENERATION.fetch_add(1, Ordering::SeqCst);
}

/// Image values borrowed from a numpy array: u8 pixels or f32 values.
enum Input<'py> {
    Pixels(PyReadonlyArrayDyn<'py, u8>),
    Values(PyReadonlyArrayDyn<'py, f32>),
}

impl<'py> Input<'py> {
    /// Borrows `x`, a uint8 or float32 array of shape (N, …).
    fn new(x: &Bound<'py, PyAny>) -> PyResult<Self> {
        if let Ok(a) = x.cast::<PyArrayDyn<u8>>() {
            return Ok(Input::Pixels(a.try_readonly()?));
        }
        if let Ok(a) = x.cast::<PyArrayDyn<f32>>() {
            return Ok(Input::Values(a.try_readonly()?));
        }
        Err(PyValueError::new_err(
            "expected a uint8 or float32 numpy array",
        ))
    }

    /// The number of images (the first dimension).
    fn count(&self) -> usize {
        let shape = match self {
            Input::Pixels(a) => a.shape(),
            Input::Values(a) => a.shape(),
        };
        shape.first().copied().unwrap_or(0)
    }

    /// The values, where they lie (the array must be C-contiguous).
    fn images(&self) -> PyResult<Images<'_>> {
        let contiguous =
            || PyValueError::new_err("the array must be C-contiguous (np.ascontiguousarray)");
        Ok(match self {
            Input::Pixels(a) => Images::U8(a.as_slice().map_err(|_| contiguous())?),
            Input::Values(a) => Images::F32(a.as_slice().map_err(|_| contiguous())?),
        })
    }
}

fn labels_slice<'a>(y: &'a PyReadonlyArrayDyn<'_, u8>) -> PyResult<&'a [u8]> {
    y.as_slice()
        .map_err(|_| PyValueError::new_err("the labels must be a contiguous uint8 array"))
}

/// The settings of a run: the estimator's values, validated and mapped
/// in Python, as a dict. `stopping` is `(monitor, patience, min_delta,
/// restore_best)`, the monitor `"val_accuracy"` or `"loss"`.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct Settings {
    hidden: Vec<usize>,
    activation: String,
    solver: String,
    nesterov: bool,
    learning_rate: f32,
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    momentum: f32,
    alpha: f32,
    batch_size: usize,
    epochs: usize,
    preprocess: String,
    seed: u64,
    stopping: Option<(String, usize, f64, bool)>,
}

/// The library's settings for the estimator's.
fn config(settings: Settings) -> PyResult<TrainConfig> {
    let Settings {
        hidden,
        activation,
        solver,
        nesterov,
        learning_rate,
        beta_1,
        beta_2,
        epsilon,
        momentum,
        alpha,
        batch_size,
        epochs,
        preprocess,
        seed,
        stopping,
    } = settings;
    let bad = |what: &str, v: &str| PyValueError::new_err(format!("unknown {what} {v:?}"));
    let activation = match activation.as_str() {
        "relu" => Activation::Relu,
        "logistic" | "sigmoid" => Activation::Sigmoid,
        "tanh" => Activation::Tanh,
        other => return Err(bad("activation", other)),
    };
    let optimizer = match solver.as_str() {
        "adam" => OptimizerConfig::Adam(AdamConfig {
            lr: learning_rate,
            beta1: beta_1,
            beta2: beta_2,
            eps: epsilon,
        }),
        "sgd" if nesterov => OptimizerConfig::Nesterov(SgdConfig {
            lr: learning_rate,
            momentum,
        }),
        "sgd" => OptimizerConfig::Sgd(SgdConfig {
            lr: learning_rate,
            momentum,
        }),
        other => return Err(bad("solver", other)),
    };
    let preprocess = match preprocess.as_str() {
        "scale" => Preprocess::Scale,
        "keras-normalize" => Preprocess::KerasNormalize,
        "standardize" => Preprocess::Standardize,
        "none" => Preprocess::Identity,
        other => return Err(bad("preprocess", other)),
    };
    let early_stopping = match stopping {
        None => None,
        Some((monitor, patience, min_delta, restore_best)) => Some(EarlyStopping {
            monitor: match monitor.as_str() {
                "val_accuracy" => Monitor::ValAccuracy,
                "loss" => Monitor::Loss,
                other => return Err(bad("monitor", other)),
            },
            patience,
            min_delta,
            restore_best,
        }),
    };
    let config = TrainConfig {
        hidden,
        activation,
        loss: Loss::Xent,
        optimizer,
        epochs,
        batch_size,
        preprocess,
        seed,
        l2: alpha,
        early_stopping,
        ..TrainConfig::default()
    };
    config.validate().map_err(py_err)?;
    Ok(config)
}

/// What a model holds: a trainer (a model being fit, or loaded from
/// checkpoint bytes) or only a network (a loaded model file).
enum State {
    Training {
        trainer: Box<Trainer>,
        generation: u64,
    },
    Fitted(Network),
}

/// A network, with its trainer while it can train further.
#[pyclass(module = "fastnn._fastnn")]
struct Model {
    state: State,
    provenance: Provenance,
}

impl Model {
    fn network(&self) -> &Network {
        match &self.state {
            State::Training { trainer, .. } => trainer.network(),
            State::Fitted(net) => net,
        }
    }

    /// Continues without the settings' early stopping (for epochs given one
    /// at a time, as `partial_fit` does).
    fn drop_early_stopping(&mut self) -> PyResult<()> {
        if let State::Training { trainer, .. } = &mut self.state
            && trainer.config().early_stopping.is_some()
        {
            let mut state = trainer.state();
            state.config.early_stopping = None;
            let net = trainer.network().clone();
            **trainer = Trainer::resume(trainer.engine(), net, state).map_err(py_err)?;
        }
        Ok(())
    }

    /// The trainer, on an engine of `threads` of this process.
    fn trainer(&mut self, threads: Option<usize>) -> PyResult<&mut Trainer> {
        let engine = engine(threads)?;
        let generation = GENERATION.load(Ordering::SeqCst);
        let State::Training {
            trainer,
            generation: made,
        } = &mut self.state
        else {
            return Err(PyValueError::new_err(
                "this model was loaded without its training state; fit it anew",
            ));
        };
        if *made != generation || trainer.engine().threads() != engine.threads() {
            // The same state on another engine: results do not depend on it.
            let net = trainer.network().clone();
            **trainer = Trainer::resume(&engine, net, trainer.state()).map_err(py_err)?;
            *made = generation;
        }
        Ok(trainer)
    }
}

#[pymethods]
impl Model {
    /// A fresh network and trainer for images of `rows × cols` like `x`
    /// (whose pixels fit the preprocessing constants), the classes named
    /// `class_names`, the labels `labels_json` (a JSON array, kept in the
    /// model file) and the `settings`.
    #[staticmethod]
    fn create(
        x: &Bound<'_, PyAny>,
        rows: usize,
        cols: usize,
        class_names: Vec<String>,
        labels_json: Option<&str>,
        threads: Option<usize>,
        settings: Settings,
    ) -> PyResult<Model> {
        let config = config(settings)?;
        let labels = labels_json.map(serde_json_labels).transpose()?;
        let input = Input::new(x)?;
        let images = input.images()?;
        let engine = engine(threads)?;
        let no_labels = [];
        let samples = Samples {
            images,
            labels: &no_labels,
            rows,
            cols,
        };
        let net = config
            .build_network(&samples, &class_names)
            .map_err(py_err)?;
        let trainer = Box::new(Trainer::new(&engine, net, config).map_err(py_err)?);
        Ok(Model {
            state: State::Training {
                trainer,
                generation: GENERATION.load(Ordering::SeqCst),
            },
            provenance: Provenance {
                dataset: String::new(),
                labels,
            },
        })
    }

    /// Trains until `epochs` epochs in all on `x` (images of the model's
    /// size) and `y` (class indices), with the GIL released, evaluating on
    /// `validation` (`(x, y)`) after each epoch when given; with
    /// `stop_early` false, without the settings' early stopping (one
    /// `partial_fit` epoch). Calls `on_epoch(epoch, loss, accuracy,
    /// seconds)` after each epoch (with the GIL; an exception from it, or
    /// Ctrl-C, stops training). Returns the new epochs' `(loss, accuracy,
    /// seconds, validation accuracy or None)`.
    #[pyo3(signature = (x, y, epochs, threads=None, on_epoch=None, validation=None,
        stop_early=true))]
    #[allow(clippy::too_many_arguments)]
    fn fit(
        &mut self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        y: PyReadonlyArrayDyn<'_, u8>,
        epochs: usize,
        threads: Option<usize>,
        on_epoch: Option<Py<PyAny>>,
        validation: Option<(Bound<'_, PyAny>, PyReadonlyArrayDyn<'_, u8>)>,
        stop_early: bool,
    ) -> PyResult<Vec<EpochRow>> {
        let input = Input::new(x)?;
        let images = input.images()?;
        let labels = labels_slice(&y)?;
        let arch = self.network().architecture().clone();
        let samples = Samples {
            images,
            labels,
            rows: arch.rows,
            cols: arch.cols,
        };
        let val_input = match &validation {
            Some((vx, _)) => Some(Input::new(vx)?),
            None => None,
        };
        let val_samples = match (&val_input, &validation) {
            (Some(vi), Some((_, vy))) => Some(Samples {
                images: vi.images()?,
                labels: labels_slice(vy)?,
                rows: arch.rows,
                cols: arch.cols,
            }),
            _ => None,
        };
        if !stop_early {
            self.drop_early_stopping()?;
        }
        let trainer = self.trainer(threads)?;
        let before = trainer.epochs_done();
        trainer.set_epochs(epochs).map_err(py_err)?;
        let mut raised: Option<PyErr> = None;
        let result = py.detach(|| {
            trainer.fit(&samples, val_samples.as_ref(), &mut |event| {
                let fastnn::Event::EpochEnd { stats, .. } = event else {
                    return Ok(());
                };
                Python::attach(|py| {
                    let outcome = py.check_signals().and_then(|()| match &on_epoch {
                        Some(f) => f
                            .call1(py, (stats.epoch, stats.loss, stats.accuracy, stats.seconds))
                            .map(drop),
                        None => Ok(()),
                    });
                    outcome.map_err(|e| {
                        raised = Some(e);
                        fastnn::Error::Config("stopped from Python".into())
                    })
                })
            })?;
            Ok::<_, fastnn::Error>(())
        });
        if let Err(e) = result {
            // A stopped run keeps the epochs it finished.
            let done = trainer.epochs_done();
            trainer.set_epochs(done).map_err(py_err)?;
            return Err(raised.unwrap_or_else(|| py_err(e)));
        }
        Ok(trainer.history()[before..]
            .iter()
            .map(|e| (e.loss, e.accuracy, e.seconds, e.val_accuracy))
            .collect())
    }

    /// Class probabilities of the images `x`, `(N, classes)` float32,
    /// computed with the GIL released.
    #[pyo3(signature = (x, threads=None))]
    fn predict_proba<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let input = Input::new(x)?;
        let images = input.images()?;
        let engine = engine(threads)?;
        let net = self.network();
        let classes = net.architecture().classes;
        let indices: Vec<usize> = (0..input.count()).collect();
        let probs = py
            .detach(|| fastnn::predict(&engine, net, images, &indices))
            .map_err(py_err)?;
        let flat: Vec<f32> = probs.into_iter().flatten().collect();
        PyArray1::from_vec(py, flat).reshape([input.count(), classes])
    }

    /// `(loss, accuracy)` on the images `x` with class indices `y`.
    #[pyo3(signature = (x, y, threads=None))]
    fn evaluate(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        y: PyReadonlyArrayDyn<'_, u8>,
        threads: Option<usize>,
    ) -> PyResult<(f64, f64)> {
        let input = Input::new(x)?;
        let images = input.images()?;
        let labels = labels_slice(&y)?;
        let engine = engine(threads)?;
        let net = self.network();
        let arch = net.architecture();
        let samples = Samples {
            images,
            labels,
            rows: arch.rows,
            cols: arch.cols,
        };
        let eval = py
            .detach(|| fastnn::evaluate(&engine, net, &samples))
            .map_err(py_err)?;
        Ok((eval.loss, eval.accuracy))
    }

    /// The model file's bytes; with `checkpoint`, and while the model can
    /// train, also its optimizer state and history (what pickling keeps).
    #[pyo3(signature = (checkpoint=false))]
    fn to_bytes<'py>(&self, py: Python<'py>, checkpoint: bool) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = match &self.state {
            State::Training { trainer, .. } if checkpoint => {
                fastnn::checkpoint_bytes(trainer, &self.provenance)
            }
            _ => fastnn::model_bytes(self.network(), &self.provenance),
        }
        .map_err(py_err)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// A model from [`Model::to_bytes`] or a model file's bytes.
    #[staticmethod]
    #[pyo3(signature = (data, name="<bytes>"))]
    fn from_bytes(data: &[u8], name: &str) -> PyResult<Model> {
        let loaded = fastnn::load_bytes(&PathBuf::from(name), data).map_err(py_err)?;
        let state = match loaded.checkpoint {
            Some(state) => State::Training {
                trainer: Box::new(
                    Trainer::resume(&engine(Some(1))?, loaded.network, state).map_err(py_err)?,
                ),
                generation: GENERATION.load(Ordering::SeqCst),
            },
            None => State::Fitted(loaded.network),
        };
        Ok(Model {
            state,
            provenance: loaded.provenance,
        })
    }

    /// Loads a model file (a CLI model or one saved from Python).
    #[staticmethod]
    fn load(path: PathBuf) -> PyResult<Model> {
        let loaded = fastnn::load_model(&path).map_err(py_err)?;
        Ok(Model {
            state: State::Fitted(loaded.network),
            provenance: loaded.provenance,
        })
    }

    /// Saves the model file (the CLI's format), atomically.
    fn save(&self, path: PathBuf) -> PyResult<()> {
        fastnn::save_model(&path, self.network(), &self.provenance).map_err(py_err)
    }

    /// Writes the ONNX graph, atomically.
    fn save_onnx(&self, path: PathBuf) -> PyResult<()> {
        fastnn::onnx::save_onnx(&path, self.network(), &self.provenance).map_err(py_err)
    }

    /// The ONNX graph's bytes.
    fn onnx_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = fastnn::onnx::to_onnx(self.network(), &self.provenance).map_err(py_err)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Whether the model keeps its training state (can train further).
    #[getter]
    fn trainable(&self) -> bool {
        matches!(self.state, State::Training { .. })
    }

    /// Epochs trained so far (by its trainer; 0 for a loaded model file).
    #[getter]
    fn epochs_done(&self) -> usize {
        match &self.state {
            State::Training { trainer, .. } => trainer.epochs_done(),
            State::Fitted(_) => 0,
        }
    }

    /// The per-epoch training losses so far.
    #[getter]
    fn loss_curve(&self) -> Vec<f64> {
        match &self.state {
            State::Training { trainer, .. } => trainer.history().iter().map(|e| e.loss).collect(),
            State::Fitted(_) => Vec::new(),
        }
    }

    /// The per-epoch validation accuracies so far (None where an epoch had
    /// no validation).
    #[getter]
    fn validation_scores(&self) -> Vec<Option<f64>> {
        match &self.state {
            State::Training { trainer, .. } => {
                trainer.history().iter().map(|e| e.val_accuracy).collect()
            }
            State::Fitted(_) => Vec::new(),
        }
    }

    /// The network's shape and settings: rows, cols, hidden, activation,
    /// classes, preprocess, class_names, labels (JSON or None), dataset.
    fn describe<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let net = self.network();
        let arch = net.architecture();
        let d = PyDict::new(py);
        d.set_item("rows", arch.rows)?;
        d.set_item("cols", arch.cols)?;
        d.set_item("hidden", arch.hidden.clone())?;
        d.set_item("activation", arch.activation.name())?;
        d.set_item("classes", arch.classes)?;
        d.set_item("preprocess", arch.preprocess.name())?;
        d.set_item("class_names", net.class_names().to_vec())?;
        let labels = self
            .provenance
            .labels
            .as_ref()
            .map(|l| serde_json::to_string(l).expect("plain data serializes"));
        d.set_item("labels", labels)?;
        d.set_item("dataset", self.provenance.dataset.clone())?;
        Ok(d)
    }

    /// The weights and biases, input side first, as float32 arrays
    /// `(inputs, outputs)` and `(outputs,)` (copies).
    fn weights<'py>(&self, py: Python<'py>) -> PyResult<Vec<LayerArrays<'py>>> {
        self.network()
            .layers()
            .iter()
            .map(|l| {
                let w = PyArray1::from_slice(py, &l.weight).reshape([l.inputs, l.outputs])?;
                Ok((w, PyArray1::from_slice(py, &l.bias)))
            })
            .collect()
    }
}

/// An epoch as Python sees it: loss, accuracy, seconds, validation
/// accuracy.
type EpochRow = (f64, f64, f64, Option<f64>);

/// A layer's weight and bias as numpy arrays.
type LayerArrays<'py> = (Bound<'py, PyArray2<f32>>, Bound<'py, PyArray1<f32>>);

fn serde_json_labels(text: &str) -> PyResult<Labels> {
    serde_json::from_str(text).map_err(|e| PyValueError::new_err(format!("bad labels: {e}")))
}

/// Keeps a dataset (its memory map) alive while numpy arrays view it.
#[pyclass(module = "fastnn._fastnn", frozen)]
struct DatasetMemory {
    dataset: Dataset,
}

/// `((x_train, y_train), (x_test, y_test))` of a dataset (`fashion`,
/// `mnist` or a folder of IDX files) as read-only uint8 arrays viewing its
/// memory map (images `(N, rows, cols)`), and its class names.
#[pyfunction]
#[allow(clippy::type_complexity)]
fn load_data<'py>(
    py: Python<'py>,
    name: &str,
) -> PyResult<(
    (
        (Bound<'py, PyArrayDyn<u8>>, Bound<'py, PyArrayDyn<u8>>),
        (Bound<'py, PyArrayDyn<u8>>, Bound<'py, PyArrayDyn<u8>>),
    ),
    Vec<String>,
)> {
    let source: DatasetSource = name.parse().map_err(py_err)?;
    let dataset = py.detach(|| Dataset::open(&source)).map_err(py_err)?;
    let names = dataset.classes().to_vec();
    let (rows, cols) = (dataset.rows(), dataset.cols());
    let owner = Bound::new(py, DatasetMemory { dataset })?;
    let ds = &owner.get().dataset;
    let view = |data: &[u8], shape: &[usize]| -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
        let view = ArrayView::from_shape(IxDyn(shape), data)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        // SAFETY: the array views memory owned by `owner`, which the
        // array keeps alive as its base object; the memory is never
        // written (the array is made read-only below).
        let array = unsafe { PyArrayDyn::borrow_from_array(&view, owner.clone().into_any()) };
        array.call_method1("setflags", (false,))?;
        Ok(array)
    };
    let split = |s: Split| -> PyResult<_> {
        let n = ds.len(s);
        let pixels = view(ds.pixels(s), &[n, rows, cols])?;
        let labels = view(ds.samples(s).labels, &[n])?;
        Ok((pixels, labels))
    };
    Ok(((split(Split::Train)?, split(Split::Test)?), names))
}

/// The Rust side of the `fastnn` package.
#[pymodule]
fn _fastnn(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Model>()?;
    m.add_function(wrap_pyfunction!(load_data, m)?)?;
    m.add_function(wrap_pyfunction!(_after_fork_in_child, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("ONNX_OPSET", fastnn::onnx::OPSET)?;
    Ok(())
}
