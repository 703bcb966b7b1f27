//! The lane type a micro-kernel is generic over: a `wide` SIMD vector, or
//! `f32` for the scalar kernel. Its own module so that `params` (which
//! derives `NR` from the lane width) and `micro` (which is instantiated with
//! `params::Lane`) both build on it without importing each other.

use super::activation::Activation;

/// The SIMD vector (or scalar) type a micro-kernel is instantiated with:
/// `wide::f32x16` / `f32x8` / `f32x4` (whose SIMD path `wide` fixes at
/// compile time), or `f32` for the scalar kernel.
pub trait Lanes: Copy {
    /// Elements per vector.
    const N: usize;
    /// All lanes `x`.
    fn splat(x: f32) -> Self;
    /// Loads `N` floats.
    ///
    /// # Safety
    /// `p` is valid for reading `N` floats.
    unsafe fn load(p: *const f32) -> Self;
    /// Stores `N` floats.
    ///
    /// # Safety
    /// `p` is valid for writing `N` floats.
    unsafe fn store(self, p: *mut f32);
    /// `self * b + c` (fused where the target has FMA).
    fn mul_add(self, b: Self, c: Self) -> Self;
    /// `self + b`.
    fn add(self, b: Self) -> Self;
    /// `self * b`.
    fn mul(self, b: Self) -> Self;
    /// `act(self)`.
    fn act(self, act: Activation) -> Self;
    /// `act'` expressed through the activation output `self`.
    fn act_grad(self, act: Activation) -> Self;
}

macro_rules! impl_wide_lanes {
    ($($t:ty, $n:literal;)*) => {$(
        impl Lanes for $t {
            const N: usize = $n;
            #[inline(always)]
            fn splat(x: f32) -> Self {
                <$t>::splat(x)
            }
            #[inline(always)]
            unsafe fn load(p: *const f32) -> Self {
                // SAFETY: the caller guarantees `N` readable floats; the read
                // is unaligned and `[f32; N]` has the vector's size.
                <$t>::new(unsafe { p.cast::<[f32; $n]>().read_unaligned() })
            }
            #[inline(always)]
            unsafe fn store(self, p: *mut f32) {
                // SAFETY: the caller guarantees `N` writable floats.
                unsafe { p.cast::<[f32; $n]>().write_unaligned(self.to_array()) }
            }
            #[inline(always)]
            fn mul_add(self, b: Self, c: Self) -> Self {
                <$t>::mul_add(self, b, c)
            }
            #[inline(always)]
            fn add(self, b: Self) -> Self {
                self + b
            }
            #[inline(always)]
            fn mul(self, b: Self) -> Self {
                self * b
            }
            #[inline(always)]
            fn act(self, act: Activation) -> Self {
                let one = <$t>::splat(1.0);
                match act {
                    Activation::Identity => self,
                    Activation::Relu => self.max(<$t>::splat(0.0)),
                    Activation::Sigmoid => one / (one + (-self).exp()),
                    Activation::Tanh => self.tanh(),
                }
            }
            #[inline(always)]
            fn act_grad(self, act: Activation) -> Self {
                let one = <$t>::splat(1.0);
                match act {
                    Activation::Identity => one,
                    Activation::Relu => self.simd_gt(<$t>::splat(0.0)).select(one, <$t>::splat(0.0)),
                    Activation::Sigmoid => self * (one - self),
                    Activation::Tanh => one - self * self,
                }
            }
        }
    )*};
}

impl_wide_lanes! {
    wide::f32x16, 16;
    wide::f32x8, 8;
    wide::f32x4, 4;
}

impl Lanes for f32 {
    const N: usize = 1;
    #[inline(always)]
    fn splat(x: f32) -> Self {
        x
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: the caller guarantees one readable float.
        unsafe { p.read_unaligned() }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the caller guarantees one writable float.
        unsafe { p.write_unaligned(self) }
    }
    /// Unfused: the scalar path must be fast on targets without FMA too.
    #[inline(always)]
    fn mul_add(self, b: Self, c: Self) -> Self {
        self * b + c
    }
    #[inline(always)]
    fn add(self, b: Self) -> Self {
        self + b
    }
    #[inline(always)]
    fn mul(self, b: Self) -> Self {
        self * b
    }
    #[inline(always)]
    fn act(self, act: Activation) -> Self {
        act.apply(self)
    }
    #[inline(always)]
    fn act_grad(self, act: Activation) -> Self {
        act.derivative_from_output(self)
    }
}
