//! Built-in architectures, initialised like PyTorch's defaults from a seed:
//! every weight and bias ~ U(−1/√fan_in, 1/√fan_in) (ChaCha8 stream).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Conv2d, Layer, LayerKind, Linear, Model, ModelError, Pool2d, Shape, DEFAULT_MAX_PARAMS};

fn uniform(rng: &mut ChaCha8Rng, n: usize, fan_in: usize) -> Vec<f32> {
    let bound = 1.0 / (fan_in as f32).sqrt();
    (0..n).map(|_| rng.random_range(-bound..bound)).collect()
}

fn linear(rng: &mut ChaCha8Rng, name: &str, i: usize, o: usize) -> Layer {
    let w = uniform(rng, i * o, i);
    let b = uniform(rng, o, i);
    Layer { name: name.into(), kind: LayerKind::Linear(Linear { in_features: i, out_features: o, w, b }) }
}

fn relu(name: &str) -> Layer {
    Layer { name: name.into(), kind: LayerKind::Relu }
}

/// The lab's MLP: 784 → 128 → ReLU → 64 → ReLU → 10 (layer names follow the handout: nn1, nn2, nn3).
pub fn lab_mlp(seed: u64) -> Model {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let layers = vec![
        Layer { name: "flatten".into(), kind: LayerKind::Flatten },
        linear(&mut rng, "nn1", 784, 128),
        relu("nn1.relu"),
        linear(&mut rng, "nn2", 128, 64),
        relu("nn2.relu"),
        linear(&mut rng, "nn3", 64, 10),
    ];
    Model::new(Shape::Chw(1, 28, 28), layers, DEFAULT_MAX_PARAMS).expect("the lab MLP is well-formed")
}

/// A small CNN for 28×28 images: conv 1→8 (3×3, pad 1) → ReLU → maxpool 2 →
/// conv 8→16 (3×3, pad 1) → ReLU → maxpool 2 → flatten → 784 → 10.
pub fn small_cnn(seed: u64) -> Result<Model, ModelError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut conv = |name: &str, ic: usize, oc: usize| {
        let fan_in = ic * 9;
        Layer {
            name: name.into(),
            kind: LayerKind::Conv2d(Conv2d {
                in_channels: ic,
                out_channels: oc,
                kernel: 3,
                stride: 1,
                padding: 1,
                w: uniform(&mut rng, oc * fan_in, fan_in),
                b: uniform(&mut rng, oc, fan_in),
            }),
        }
    };
    let (c1, c2) = (conv("conv1", 1, 8), conv("conv2", 8, 16));
    let pool = |name: &str| Layer { name: name.into(), kind: LayerKind::MaxPool2d(Pool2d { kernel: 2, stride: 2 }) };
    let layers = vec![
        c1,
        relu("conv1.relu"),
        pool("pool1"),
        c2,
        relu("conv2.relu"),
        pool("pool2"),
        Layer { name: "flatten".into(), kind: LayerKind::Flatten },
        linear(&mut rng, "fc", 16 * 7 * 7, 10),
    ];
    Model::new(Shape::Chw(1, 28, 28), layers, DEFAULT_MAX_PARAMS)
}
