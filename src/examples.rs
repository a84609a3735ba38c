//! Built-in example tensors.

/// The lab handout's "normal" example (EAI Lab 6, printed to 4 decimals).
pub const LAB_NORMAL: [f32; 8] = [0.6004, -1.0151, 1.1885, 0.9948, -0.3187, -1.1111, 0.7827, -1.1217];
/// The integers the handout prints for it with the normal method at 8 bits.
pub const LAB_NORMAL_Q: [i32; 8] = [62, -116, 127, 106, -39, -127, 82, -128];
/// The dequantized values the handout prints (to 4 decimals).
pub const LAB_NORMAL_DEQ: [f32; 8] = [0.5979, -1.0147, 1.1868, 0.9966, -0.3171, -1.1143, 0.7791, -1.1234];

/// The lab handout's "clip" example.
pub const LAB_CLIP: [f32; 8] = [1.4243, -0.7382, -1.0199, 0.6312, -0.4644, -1.2151, 1.1037, 0.2785];
pub const LAB_CLIP_Q: [i32; 8] = [127, -128, -128, 101, -111, -128, 127, 33];
pub const LAB_CLIP_DEQ: [f32; 8] = [0.7644, -0.5527, -0.5527, 0.6301, -0.4649, -0.5527, 0.7644, 0.2789];
