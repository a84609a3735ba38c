//! Model definitions are checked at load time (typed errors, never a panic),
//! BatchNorm folds exactly, and FP32 inference matches direct formulas.

use qplay::model::forward::Fp32Runner;
use qplay::model::*;


fn layer(name: &str, kind: LayerKind) -> Layer {
    Layer { name: name.into(), kind }
}

fn linear(i: usize, o: usize, seed: f32) -> LayerKind {
    LayerKind::Linear(Linear {
        in_features: i,
        out_features: o,
        w: (0..i * o).map(|t| ((t as f32 * 0.37 + seed).sin()) * 0.5).collect(),
        b: (0..o).map(|t| (t as f32 * 0.11 - seed).cos() * 0.1).collect(),
    })
}

fn conv(ic: usize, oc: usize, k: usize, stride: usize, padding: usize) -> LayerKind {
    LayerKind::Conv2d(Conv2d {
        in_channels: ic,
        out_channels: oc,
        kernel: k,
        stride,
        padding,
        w: (0..oc * ic * k * k).map(|t| ((t as f32) * 0.731).sin() * 0.3).collect(),
        b: (0..oc).map(|t| t as f32 * 0.05).collect(),
    })
}

const MAX: usize = DEFAULT_MAX_PARAMS;

both! {
    a_tiny_mlp_computes_the_hand_formula {
        // y = relu(x · w1ᵀ + b1) · w2ᵀ + b2 with 2 → 2 → 1.
        let l1 = LayerKind::Linear(Linear { in_features: 2, out_features: 2, w: vec![1.0, -1.0, 0.5, 2.0], b: vec![0.0, -1.0] });
        let l2 = LayerKind::Linear(Linear { in_features: 2, out_features: 1, w: vec![3.0, -2.0], b: vec![0.25] });
        let m = Model::new(Shape::Flat(2), vec![layer("fc1", l1), layer("relu", LayerKind::Relu), layer("fc2", l2)], MAX).unwrap();
        let r = Fp32Runner::new(m);
        // x = [1, 2]: h = [1 − 2, 0.5 + 4 − 1] = [−1, 3.5] → relu [0, 3.5] → 0 − 7 + 0.25 = −6.75.
        // x = [3, −1]: h = [4, 1.5 − 2 − 1] = [4, −1.5] → [4, 0] → 12.25.
        assert_eq!(r.forward(&[1.0, 2.0, 3.0, -1.0]).unwrap(), vec![-6.75, 12.25]);
    }

    shapes_flow_through_a_cnn {
        let m = Model::new(Shape::Chw(1, 28, 28), vec![
            layer("conv1", conv(1, 8, 3, 1, 1)), layer("relu1", LayerKind::Relu),
            layer("pool1", LayerKind::MaxPool2d(Pool2d { kernel: 2, stride: 2 })),
            layer("conv2", conv(8, 16, 3, 2, 0)), layer("relu2", LayerKind::Relu),
            layer("pool2", LayerKind::AvgPool2d(Pool2d { kernel: 2, stride: 2 })),
            layer("flatten", LayerKind::Flatten), layer("fc", linear(16 * 3 * 3, 10, 0.3)), layer("softmax", LayerKind::Softmax),
        ], MAX).unwrap();
        // 28 → conv p1 → 28 → pool → 14 → conv s2 → 6 → pool → 3.
        assert_eq!(m.shapes[3], Shape::Chw(8, 14, 14));
        assert_eq!(m.shapes[4], Shape::Chw(16, 6, 6));
        assert_eq!(m.output(), Shape::Flat(10));
        let r = Fp32Runner::new(m);
        let x: Vec<f32> = (0..2 * 784).map(|i| (i % 17) as f32 / 17.0).collect();
        let y = r.forward(&x).unwrap();
        assert_eq!(y.len(), 20);
        for row in y.chunks(10) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5, "softmax rows sum to 1");
        }
    }

    conv_matches_the_direct_sum {
        let kind = conv(2, 3, 3, 2, 1);
        let LayerKind::Conv2d(c) = &kind else { unreachable!() };
        let c = c.clone();
        let (h, w) = (5, 4);
        let m = Model::new(Shape::Chw(2, h, w), vec![layer("conv", kind)], MAX).unwrap();
        let x: Vec<f32> = (0..2 * h * w).map(|i| (i as f32 * 0.9).cos()).collect();
        let y = Fp32Runner::new(m.clone()).forward(&x).unwrap();
        let Shape::Chw(oc, oh, ow) = m.output() else { unreachable!() };
        for o in 0..oc {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut want = c.b[o] as f64;
                    for ch in 0..2 {
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let (iy, ix) = ((oy * 2 + ky) as isize - 1, (ox * 2 + kx) as isize - 1);
                                if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                    want += c.w[((o * 2 + ch) * 3 + ky) * 3 + kx] as f64 * x[(ch * h + iy as usize) * w + ix as usize] as f64;
                                }
                            }
                        }
                    }
                    let got = y[(o * oh + oy) * ow + ox] as f64;
                    assert!((got - want).abs() < 1e-5, "({o},{oy},{ox}): {got} vs {want}");
                }
            }
        }
    }

    batchnorm_folds_into_the_layer_before {
        let bn = BatchNorm { gamma: vec![2.0, 0.5, 1.0], beta: vec![0.1, -0.2, 0.0], mean: vec![0.3, -0.1, 1.0], var: vec![4.0, 0.25, 1.0], eps: 0.0 };
        let plain = Model::new(Shape::Flat(4), vec![layer("fc", linear(4, 3, 1.0))], MAX).unwrap();
        let folded = Model::new(Shape::Flat(4), vec![layer("fc", linear(4, 3, 1.0)), layer("bn", LayerKind::BatchNorm(bn.clone()))], MAX).unwrap();
        assert_eq!(folded.layers.len(), 1, "the BatchNorm is gone");
        let x = [0.5, -1.0, 2.0, 0.25];
        let y0 = Fp32Runner::new(plain).forward(&x).unwrap();
        let y1 = Fp32Runner::new(folded).forward(&x).unwrap();
        for o in 0..3 {
            let want = bn.gamma[o] * (y0[o] - bn.mean[o]) / (bn.var[o] + bn.eps).sqrt() + bn.beta[o];
            assert!((y1[o] - want).abs() < 1e-5, "{o}: {} vs {want}", y1[o]);
        }
    }

    bad_definitions_get_typed_errors {
        let e = Model::new(Shape::Flat(784), vec![layer("fc1", linear(700, 10, 0.0))], MAX).unwrap_err();
        assert!(matches!(e, ModelError::ShapeMismatch { ref layer, .. } if layer == "fc1"), "{e}");
        let e = Model::new(Shape::Flat(4), vec![layer("fc", linear(4, 0, 0.0))], MAX).unwrap_err();
        assert!(matches!(e, ModelError::BadDimension { what: "out_features", .. }), "{e}");
        let huge = LayerKind::Linear(Linear { in_features: 1 << 20, out_features: 1 << 20, w: vec![], b: vec![] });
        let e = Model::new(Shape::Flat(1 << 20), vec![layer("fc", huge)], MAX).unwrap_err();
        assert!(matches!(e, ModelError::BadDimension { .. }), "absurd dimension: {e}");
        // An input too large is named by its shape (its count saturated to "size = 4294967295" on wasm32).
        let e = Model::new(Shape::Chw(1, 99999, 99999), vec![layer("fc", linear(4, 3, 0.0))], MAX).unwrap_err();
        assert_eq!(e.to_string(), "the model's input [1, 99999, 99999] must hold 1 to 16,777,216 values");
        let e = Model::new(Shape::Flat(0), vec![layer("fc", linear(4, 3, 0.0))], MAX).unwrap_err();
        assert_eq!(e.to_string(), "the model's input [0] must hold 1 to 16,777,216 values");
        let e = Model::new(Shape::Flat(4), vec![layer("fc", linear(4, 3, 0.0))], 10).unwrap_err();
        assert_eq!(e, ModelError::TooLarge { params: 15, limit: 10 });
        let mut bad = linear(4, 3, 0.0);
        if let LayerKind::Linear(l) = &mut bad { l.w.pop(); }
        assert!(matches!(Model::new(Shape::Flat(4), vec![layer("fc", bad)], MAX), Err(ModelError::TensorLength { tensor: "weight", .. })));
        let mut nan = linear(4, 3, 0.0);
        if let LayerKind::Linear(l) = &mut nan { l.b[1] = f32::NAN; }
        assert!(matches!(Model::new(Shape::Flat(4), vec![layer("fc", nan)], MAX), Err(ModelError::NonFinite { tensor: "bias", index: 1, .. })));
        assert_eq!(Model::new(Shape::Flat(4), vec![], MAX), Err(ModelError::Empty));
        let bn = BatchNorm { gamma: vec![1.0; 4], beta: vec![0.0; 4], mean: vec![0.0; 4], var: vec![1.0; 4], eps: 1e-5 };
        assert!(matches!(Model::new(Shape::Flat(4), vec![layer("relu", LayerKind::Relu), layer("bn", LayerKind::BatchNorm(bn))], MAX),
            Err(ModelError::Unfoldable { .. })));
        assert!(matches!(Model::new(Shape::Flat(4), vec![layer("pool", LayerKind::MaxPool2d(Pool2d { kernel: 2, stride: 2 }))], MAX),
            Err(ModelError::ShapeMismatch { .. })));
        assert!(matches!(Model::new(Shape::Chw(1, 2, 2), vec![layer("pool", LayerKind::MaxPool2d(Pool2d { kernel: 3, stride: 0 }))], MAX),
            Err(ModelError::BadDimension { what: "stride", .. })));
        let m = Model::new(Shape::Flat(4), vec![layer("fc", linear(4, 3, 0.0))], MAX).unwrap();
        assert!(matches!(Fp32Runner::new(m).forward(&[1.0; 6]), Err(ModelError::BatchLength { .. })));
    }

    activations_that_overflow_f32_name_the_layer {
        // Finite weights of 1e30: fc1 gives 4e30 (finite), fc2 4 · 4e30 · 1e30 = 1.6e61 → inf.
        let huge = |i: usize, o: usize| LayerKind::Linear(Linear { in_features: i, out_features: o, w: vec![1e30; i * o], b: vec![0.0; o] });
        let m = Model::new(Shape::Flat(4), vec![layer("fc1", huge(4, 4)), layer("relu", LayerKind::Relu), layer("fc2", huge(4, 2))], MAX).unwrap();
        let mut x = vec![0.0f32; 8];
        x[4..].fill(1.0);
        let e = Fp32Runner::new(m.clone()).forward(&x).unwrap_err();
        assert_eq!(e, ModelError::ActivationOverflow { layer: "fc2".into(), sample: 1, index: 0, value: f32::INFINITY });
        assert!(e.to_string().starts_with("layer fc2: its FP32 output is inf (sample #2, value #1): the activations pass f32's range"), "{e}");
        // PTQ says the same, not "value #1 is inf: only finite numbers can be quantized".
        let e = qplay::ptq::quantize_model(&m, &qplay::ptq::PtqConfig::default(), &x, qplay::ptq::Scope::All).err().expect("refused");
        assert!(e.to_string().contains("layer fc2: its FP32 output is inf"), "{e}");
        // A non-finite input is the caller's to check: the run goes on.
        assert!(Fp32Runner::new(m).forward(&[f32::NAN, 0.0, 0.0, 0.0]).is_ok());
    }
}

both! {

    a_model_that_cannot_run_on_the_datasets_is_named_when_loaded {
        // The page checks a loaded model against 28 × 28 images of 10 classes at once.
        use qplay::experiment::run::fits_the_datasets;
        assert_eq!(fits_the_datasets(&zoo::lab_mlp(1)), Ok(()));
        assert_eq!(fits_the_datasets(&zoo::small_cnn(1).unwrap()), Ok(()));
        let seven = Model::new(Shape::Flat(784), vec![layer("fc", linear(784, 7, 1.0))], MAX).unwrap();
        assert_eq!(fits_the_datasets(&seven).unwrap_err(), "the model has 7 outputs, but MNIST and Fashion-MNIST have 10 classes: a classifier of these datasets has one output per class");
        let small = Model::new(Shape::Flat(100), vec![layer("fc", linear(100, 10, 1.0))], MAX).unwrap();
        assert!(fits_the_datasets(&small).unwrap_err().starts_with("the model takes 100 values per sample, but MNIST's and Fashion-MNIST's images have 784 (28 × 28)"));
    }
    absurd_activations_are_refused_when_the_model_is_built {
        // Padding 30,000 on a 28×28 image: conv1's output is 8 × 60,026² floats per image, which
        // used to load and then abort the process when run ("memory allocation of … failed").
        let e = Model::new(Shape::Chw(1, 28, 28), vec![
            layer("conv1", conv(1, 8, 3, 1, 30_000)), layer("relu", LayerKind::Relu),
            layer("pool", LayerKind::MaxPool2d(Pool2d { kernel: 60_000, stride: 60_000 })),
            layer("flatten", LayerKind::Flatten), layer("fc", linear(8, 2, 0.1)),
        ], MAX).unwrap_err();
        assert!(matches!(&e, ModelError::TooMuchMemory { layer, limit, .. } if layer == "conv1" && *limit == MAX_WORKING_BYTES), "{e:?}");
        assert!(e.to_string().starts_with("layer conv1:") && e.to_string().contains("256 MiB"), "{e}");
        // Within each dimension's limit, but the layers' outputs together pass the budget: the
        // layer where it is passed is named.
        let wide = |name: &str| layer(name, conv(8, 8, 1, 1, 0));
        let e = Model::new(Shape::Chw(8, 64, 64), vec![wide("a"), wide("b"), wide("c"), wide("d"), wide("e"), wide("f"), wide("g")], MAX).unwrap_err();
        assert!(matches!(&e, ModelError::TooMuchMemory { layer, .. } if layer == "b"), "{e:?}");
        // A calibration set runs through the model at once: 8,192 images of a 32-channel 28×28
        // convolution need 1.6 GB, so PTQ refuses them (1 GiB) while a batch of 500 is fine.
        let big = Model::new(Shape::Chw(1, 28, 28), vec![
            layer("conv", conv(1, 32, 3, 1, 1)), layer("flatten", LayerKind::Flatten), layer("fc", linear(32 * 28 * 28, 2, 0.01)),
        ], MAX).unwrap();
        let calib = vec![0.5f32; 8192 * 784];
        let e = qplay::ptq::quantize_model(&big, &qplay::ptq::PtqConfig::default(), &calib, qplay::ptq::Scope::All).err().expect("refused");
        assert!(e.to_string().contains("batch of 8192") && e.to_string().contains("1024 MiB"), "{e}");
        assert!(qplay::ptq::quantize_model(&big, &qplay::ptq::PtqConfig::default(), &calib[..64 * 784], qplay::ptq::Scope::All).is_ok());
        // The built-in CNN's shape is far inside the budget.
        let cnn = zoo::small_cnn(0).unwrap();
        let bytes = working_bytes(&cnn.layers, &cnn.shapes, WORKING_BATCH, MAX_WORKING_BYTES).unwrap();
        assert!(bytes < (MAX_WORKING_BYTES / 2) as u128, "{bytes}");
    }
}
