//! The element-wise activation functions of a dense layer.
//!
//! The kernels own them, not the network, because the epilogue fuses them
//! into the product while C is still in registers: `f` on the forward pass,
//! `f'` (from the output) on the input gradient. So each exists twice: the
//! scalar form here ([`Activation::apply`],
//! [`Activation::derivative_from_output`]) and the SIMD form of every lane
//! type (`Lanes::act`, `Lanes::act_grad`), which must agree with it (to
//! rounding, for sigmoid and tanh). The scalar kernel's lanes call these
//! very functions, and the gemm tests check every path against the naive
//! `reference`, which calls them too.

/// An element-wise activation function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// `x` (the output layer's; not offered for hidden layers).
    #[cfg_attr(feature = "cli", value(skip))]
    Identity,
    /// `max(x, 0)`.
    Relu,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
}

impl Activation {
    /// The name `--activation` uses.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
        }
    }

    /// `f(x)`.
    #[inline]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Identity => x,
            Activation::Relu => x.max(0.0),
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Activation::Tanh => x.tanh(),
        }
    }

    /// `f'(x)` expressed through the output `y = f(x)`, which is what the
    /// backward pass keeps.
    #[inline]
    pub fn derivative_from_output(self, y: f32) -> f32 {
        match self {
            Activation::Identity => 1.0,
            Activation::Relu => {
                if y > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::Sigmoid => y * (1.0 - y),
            Activation::Tanh => 1.0 - y * y,
        }
    }
}
