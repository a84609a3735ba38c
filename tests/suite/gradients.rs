//! Backward passes against finite differences on a tiny CNN with every
//! trainable layer kind (Conv2d with stride and padding, ReLU, MaxPool2d,
//! AvgPool2d, Flatten, Linear), and the small CNN learning on real images.
#![cfg(not(target_arch = "wasm32"))]

use qplay::model::{Conv2d, Layer, LayerKind, Linear, Model, Pool2d, Shape, DEFAULT_MAX_PARAMS};
use qplay::train::net::Net;
use qplay::train::optim::Optimizer;

fn tiny() -> Model {
    let wave = |n: usize, k: f32| (0..n).map(|i| ((i as f32 + 1.0) * k).sin() * 0.5).collect::<Vec<f32>>();
    let layers = vec![
        Layer { name: "conv".into(), kind: LayerKind::Conv2d(Conv2d { in_channels: 2, out_channels: 3, kernel: 3, stride: 1, padding: 1, w: wave(54, 0.7), b: wave(3, 1.3) }) },
        Layer { name: "relu".into(), kind: LayerKind::Relu },
        Layer { name: "max".into(), kind: LayerKind::MaxPool2d(Pool2d { kernel: 2, stride: 2 }) },
        Layer { name: "conv2".into(), kind: LayerKind::Conv2d(Conv2d { in_channels: 3, out_channels: 2, kernel: 2, stride: 1, padding: 0, w: wave(24, 0.9), b: wave(2, 0.4) }) },
        Layer { name: "avg".into(), kind: LayerKind::AvgPool2d(Pool2d { kernel: 2, stride: 1 }) },
        Layer { name: "flatten".into(), kind: LayerKind::Flatten },
        Layer { name: "fc".into(), kind: LayerKind::Linear(Linear { in_features: 2, out_features: 3, w: wave(6, 1.1), b: wave(3, 0.2) }) },
    ];
    Model::new(Shape::Chw(2, 6, 6), layers, DEFAULT_MAX_PARAMS).unwrap()
}

/// Mean cross-entropy of the logits, in f64.
fn loss(net: &mut Net, x: &[f32], labels: &[u8]) -> f64 {
    let logits = net.logits(x, false);
    let c = logits.len() / labels.len();
    labels
        .iter()
        .enumerate()
        .map(|(b, &l)| {
            let row: Vec<f64> = logits[b * c..(b + 1) * c].iter().map(|&v| v as f64).collect();
            let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lse = row.iter().map(|v| (v - m).exp()).sum::<f64>().ln() + m;
            lse - row[l as usize]
        })
        .sum::<f64>()
        / labels.len() as f64
}

fn params_mut(model: &mut Model, layer: usize) -> &mut Vec<f32> {
    match &mut model.layers[layer].kind {
        LayerKind::Conv2d(c) => &mut c.w,
        LayerKind::Linear(l) => &mut l.w,
        _ => unreachable!(),
    }
}

#[test]
fn backward_matches_finite_differences() {
    let x: Vec<f32> = (0..2 * 72).map(|i| ((i as f32) * 0.37).cos()).collect();
    let labels = [2u8, 0];
    // The analytic gradient: one SGD step with lr = 1 and no momentum moves w by −dw.
    let mut net = Net::new(tiny()).unwrap();
    let before = net.model.clone();
    net.train_step(&x, &labels, Optimizer::sgd(1.0, 0.0));
    for layer in [0usize, 3, 6] {
        let mut b = before.clone();
        let w0 = params_mut(&mut b, layer).clone();
        let w1 = params_mut(&mut net.model, layer).clone();
        for i in 0..w0.len() {
            let analytic = (w0[i] - w1[i]) as f64;
            // Central difference with h = 1e-3, in f32 weights.
            let h = 1e-3f32;
            let mut plus = before.clone();
            params_mut(&mut plus, layer)[i] += h;
            let mut minus = before.clone();
            params_mut(&mut minus, layer)[i] -= h;
            let lp = loss(&mut Net::new(plus).unwrap(), &x, &labels);
            let lm = loss(&mut Net::new(minus).unwrap(), &x, &labels);
            let numeric = (lp - lm) / (2.0 * h as f64);
            assert!((analytic - numeric).abs() <= 2e-3 + 2e-2 * numeric.abs(), "layer {layer} w[{i}]: analytic {analytic}, numeric {numeric}");
        }
    }
}

#[test]
fn the_small_cnn_learns_fashion_mnist() {
    use qplay::data::read_qds;
    use qplay::model::zoo::small_cnn;
    use qplay::train::fit::{accuracy, fit, FitConfig};
    let load = |n: &str| read_qds(&std::fs::read(format!("{}/www/data/{n}", env!("CARGO_MANIFEST_DIR"))).unwrap()).unwrap();
    let (train, test) = (load("fashion-train.qds.gz").take(1500), load("fashion-test.qds.gz").take(500));
    let mut net = Net::new(small_cnn(2).unwrap()).unwrap();
    let mut losses = Vec::new();
    fit(&mut net, &train, &FitConfig { epochs: 1, batch: 32, optimizer: Optimizer::adam(2e-3), seed: 2, report_every: 10 }, &mut |p| {
        losses.push(p.loss);
        true
    });
    let acc = accuracy(&mut net, &test);
    eprintln!("small CNN, 1 epoch on 1,500 Fashion-MNIST images: loss {losses:?}, test accuracy {acc:.3}");
    assert!(losses.last().unwrap() < &(losses[0] * 0.7), "{losses:?}");
    assert!(acc > 0.6, "accuracy {acc}");
}
