//! Native f32 matrix products (the trainer, and FP32 inference natively): matrixmultiply's sgemm (single-threaded, so the
//! summation order, and therefore every bit of training, is fixed on a given CPU).

/// A matrix view: data with a row stride and a column stride (in elements).
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub data: &'a [f32],
    pub rs: isize,
    pub cs: isize,
}

impl<'a> View<'a> {
    /// Row-major [rows, cols].
    pub fn rm(data: &'a [f32], cols: usize) -> View<'a> {
        View { data, rs: cols as isize, cs: 1 }
    }
    /// The transpose of a row-major [rows, cols] matrix.
    pub fn t(data: &'a [f32], cols: usize) -> View<'a> {
        View { data, rs: 1, cs: cols as isize }
    }
    /// Row-major with an explicit row stride (a column block of a wider matrix).
    pub fn strided(data: &'a [f32], row_stride: usize) -> View<'a> {
        View { data, rs: row_stride as isize, cs: 1 }
    }
    pub fn strided_t(data: &'a [f32], row_stride: usize) -> View<'a> {
        View { data, rs: 1, cs: row_stride as isize }
    }
}

/// c [m, n] (row stride `crs`) = beta·c + a [m, k] · b [k, n] (BLAS's sgemm arguments).
#[allow(clippy::too_many_arguments)]
pub fn mm(m: usize, k: usize, n: usize, a: View, b: View, beta: f32, c: &mut [f32], crs: usize) {
    if m == 0 || n == 0 {
        return;
    }
    // Bounds: the last element each view touches must lie inside its slice.
    let last = |v: &View, r: usize, cc: usize| (r as isize - 1) * v.rs + (cc as isize - 1) * v.cs;
    assert!(k == 0 || (last(&a, m, k) as usize) < a.data.len(), "mm: a is too short");
    assert!(k == 0 || (last(&b, k, n) as usize) < b.data.len(), "mm: b is too short");
    assert!((m - 1) * crs + n <= c.len(), "mm: c is too short");
    // SAFETY: the asserts above keep every index matrixmultiply computes inside the slices
    // (all strides are non-negative).
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.data.as_ptr(),
            a.rs,
            a.cs,
            b.data.as_ptr(),
            b.rs,
            b.cs,
            beta,
            c.as_mut_ptr(),
            crs as isize,
            1,
        );
    }
}
