// Golden Stick's PTQConfig: the calls the seeds write read as the settings they describe, qplay's
// settings written as a call read back to themselves, and every refusal names the field.

use qplay::lm::KvFormat;
use qplay::ptq::golden_stick::{read_ptq_config, write_ptq_config, MAX_BLACKLIST, MAX_PTQ_CONFIG_CHARS};
use qplay::ptq::lm::{LmMethod, LmQuantConfig, LmWeightFormat};

fn read(text: &str) -> LmQuantConfig {
    read_ptq_config(text, &LmQuantConfig::default()).unwrap_or_else(|e| panic!("{text}: {e}")).quant
}

fn refused(text: &str) -> String {
    match read_ptq_config(text, &LmQuantConfig::default()) {
        Ok(r) => panic!("{text} must be refused, read as {}", r.quant.label()),
        Err(e) => e,
    }
}

fn w8() -> LmQuantConfig {
    LmQuantConfig { weights: LmWeightFormat::Rtn, bits: 8, group: 0, skip: vec!["tok_embeddings".into()], ..LmQuantConfig::default() }
}

both! {
    the_seeds_calls_read_as_what_they_describe {
        // 001 (quantization overview), "A16W8 quantization", as the guide prints it.
        let a16w8 = read("ptq_config = PTQConfig(weight_quant_dtype=msdtype.int8,  act_quant_dtype=None,  kvcache_quant_dtype=None,\n                        outliers_suppression=OutliersSuppressionType.NONE)");
        assert_eq!(a16w8, w8(), "int8 weights per channel, float activations, the embedding float, the head quantized (no blacklist)");
        // "A8W8 quantization": SmoothQuant, per-tensor (static) activation scales by default.
        let a8w8 = read("ptq_config = PTQConfig(weight_quant_dtype=msdtype.int8, act_quant_dtype=msdtype.int8, kvcache_quant_dtype=None,\n                        outliers_suppression=OutliersSuppressionType.SMOOTH)");
        assert_eq!(a8w8, LmQuantConfig { int8_acts: true, static_acts: true, method: LmMethod::SmoothQuant, ..w8() });
        // "KVCache int8 quantization": float weights, the cache in int8, with a note on granularity.
        let kv = read_ptq_config("PTQConfig(weight_quant_dtype=None, act_quant_dtype=None, kvcache_quant_dtype=msdtype.int8,\n outliers_suppression=OutliersSuppressionType.NONE)", &LmQuantConfig::default()).unwrap();
        assert_eq!(kv.quant, LmQuantConfig { weights: LmWeightFormat::F32, kv: KvFormat::Int8, ..w8() });
        assert!(kv.notes.iter().any(|n| n.contains("PER_CHANNEL") && n.contains("per token and head")), "{:?}", kv.notes);
        // 000 (RTN of Llama 2): the class's default int8 weights, the head blacklisted; mode and
        // backend (variables there) noted, not refused.
        let rtn = read_ptq_config("cfg = PTQConfig(mode=mode, backend=backend, opname_blacklist=[\"lm_head\"])", &LmQuantConfig::default()).unwrap();
        assert_eq!(rtn.quant, LmQuantConfig { skip: vec!["output".into(), "tok_embeddings".into()], ..w8() });
        assert_eq!(rtn.notes.len(), 2, "{:?}", rtn.notes);
        let deploy = read("deploy_cfg = PTQConfig(mode=PTQMode.DEPLOY, backend=BackendTarget.ASCEND, opname_blacklist=[\"lm_head\"])");
        assert_eq!(deploy, rtn.quant);
        // 001's first example, with `ms.dtype`.
        assert_eq!(read("cfg = PTQConfig(mode=PTQMode.QUANTIZE, backend=BackendTarget.ASCEND, weight_quant_dtype=ms.dtype.int8)"), w8());
    }

    the_other_fields_and_spellings_read {
        let w4 = read("mindspore_gs.ptq.PTQConfig(weight_quant_dtype=msdtype.qint4x2, weight_quant_granularity=QuantGranularity.PER_GROUP, group_size=128,\n    precision_recovery=PrecisionRecovery.GPTQ,  # GPTQ\n)");
        assert_eq!(w4, LmQuantConfig { bits: 4, group: 128, method: LmMethod::Gptq, ..w8() });
        let awq = read("PTQConfig(weight_quant_dtype='qint4x2', weight_quant_granularity='per_group', group_size=32, outliers_suppression='awq', precision_recovery=PrecisionRecovery.GPTQ)");
        assert_eq!(awq, LmQuantConfig { bits: 4, group: 32, method: LmMethod::Awq, awq_gptq: true, ..w8() });
        let per_token = read("PTQConfig(act_quant_dtype=mindspore.dtype.int8, act_quant_granularity=QuantGranularity.PER_TOKEN, kvcache_quant_dtype=msdtype.int8, kvcache_quant_granularity=QuantGranularity.PER_TOKEN)");
        assert_eq!(per_token, LmQuantConfig { int8_acts: true, static_acts: false, kv: KvFormat::Int8, ..w8() });
        // Hugging Face and MindFormers names in the blacklist are qplay's; a part matches
        // wherever it sits.
        // A backslash before a line break continues the string (an escaped quote is the quote:
        // refused below as no layer name).
        let escaped = read("PTQConfig(opname_blacklist=[\"lm_\\\nhead\", 'w\\\n2'])");
        assert_eq!(escaped.skip, read("PTQConfig(opname_blacklist=['lm_head', 'w2'])").skip);
        let names = read("PTQConfig(opname_blacklist=['model.layers.0.self_attn.q_proj', 'mlp.down_proj', 'attention', 'lm_head', 'embed_tokens'])");
        assert_eq!(names.skip, ["layers.0.attention.wq", "feed_forward.w2", "attention", "output", "tok_embeddings"]);
        // Against the model in use: a blacklist entry that names none of its Linears is refused,
        // naming the entry (the box once said "Applied." and the form then stopped Run); names
        // it has, in either spelling, fit.
        let model = qplay::lm::corpus::BuiltinLm::Small.config();
        let fits = |text: &str| read_ptq_config(text, &LmQuantConfig::default()).unwrap().check_fits(&model);
        let e = fits("PTQConfig(opname_blacklist=['lm_head', 'mlp.gate_projx'])").unwrap_err();
        assert!(e.starts_with("opname_blacklist: \"feed_forward.gate_projx\" names no Linear of this model"), "{e}");
        let e = fits("PTQConfig(opname_blacklist=['layers.99'])").unwrap_err();
        assert!(e.starts_with("opname_blacklist: \"layers.99\" names no Linear"), "{e}");
        fits("PTQConfig(opname_blacklist=['model.layers.0.self_attn.q_proj', 'mlp.down_proj', 'lm_head'])").unwrap();
        fits("PTQConfig(weight_quant_dtype=msdtype.int8)").unwrap();
        // The settings the call has no field for come from the base (the page's current ones).
        let base = LmQuantConfig { calib_tokens: 4096, alpha: 0.8, damp: 0.05, outliers: 4, ..LmQuantConfig::default() };
        let smooth = read_ptq_config("PTQConfig(act_quant_dtype=msdtype.int8, outliers_suppression=OutliersSuppressionType.SMOOTH)", &base).unwrap().quant;
        assert_eq!((smooth.calib_tokens, smooth.alpha, smooth.damp, smooth.outliers), (4096, 0.8, 0.05, 4));
    }

    qplay_settings_written_as_a_call_read_back_to_themselves {
        let mut said = 0;
        for weights in [LmWeightFormat::F32, LmWeightFormat::Rtn] {
            for (bits, group) in [(8, 0), (8, 64), (4, 0), (4, 32)] {
                for (int8_acts, static_acts) in [(false, false), (true, false), (true, true)] {
                    for kv in [KvFormat::F32, KvFormat::Int8] {
                        for (method, awq_gptq) in [(LmMethod::Rtn, false), (LmMethod::Gptq, false), (LmMethod::Awq, false), (LmMethod::Awq, true), (LmMethod::SmoothQuant, false)] {
                            for skip in [vec!["tok_embeddings".to_string()], vec!["output".into(), "tok_embeddings".into()], vec!["layers.1".into(), "feed_forward.w2".into(), "tok_embeddings".into()]] {
                                let q = LmQuantConfig { weights, bits, group, int8_acts, static_acts, kv, method, awq_gptq, skip, ..LmQuantConfig::default() };
                                if q.validate().is_err() || (weights == LmWeightFormat::F32 && (bits, group) != (8, 0)) {
                                    continue;
                                }
                                let w = write_ptq_config(&q);
                                assert!(w.unsaid.is_empty(), "{}: {:?}", w.text, w.unsaid);
                                let back = read_ptq_config(&w.text, &q).unwrap_or_else(|e| panic!("{}: {e}", w.text)).quant;
                                assert_eq!(back, q, "{}", w.text);
                                said += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(said > 300, "{said} settings said");
        // The seeds' A8W8, written.
        let a8w8 = LmQuantConfig { int8_acts: true, static_acts: true, method: LmMethod::SmoothQuant, ..w8() };
        assert_eq!(
            write_ptq_config(&a8w8).text,
            "PTQConfig(weight_quant_dtype=msdtype.int8, act_quant_dtype=msdtype.int8, kvcache_quant_dtype=None, outliers_suppression=OutliersSuppressionType.SMOOTH)"
        );
    }

    what_a_call_cannot_say_is_listed {
        let said = |q: LmQuantConfig| write_ptq_config(&q).unsaid.join(" | ");
        assert!(said(LmQuantConfig { bits: 3, group: 32, ..w8() }).contains("3-bit"));
        assert!(said(LmQuantConfig { symmetric: false, ..w8() }).contains("asymmetric"));
        assert!(said(LmQuantConfig { kv: KvFormat::F16, ..w8() }).contains("FP16 KV cache"));
        assert!(said(LmQuantConfig { skip: vec![], ..w8() }).contains("token embedding"));
        assert!(said(LmQuantConfig { outliers: 4, ..w8() }).contains("4 injected outlier channels"));
        let q4_0 = write_ptq_config(&LmQuantConfig { weights: LmWeightFormat::Q4_0, ..LmQuantConfig::default() });
        assert!(q4_0.text.contains("weight_quant_dtype=msdtype.qint4x2") && q4_0.text.contains("group_size=32"), "{}", q4_0.text);
        assert!(q4_0.unsaid.iter().any(|u| u.contains("Q4_0")), "{:?}", q4_0.unsaid);
        assert!(write_ptq_config(&LmQuantConfig { weights: LmWeightFormat::Bf16, ..LmQuantConfig::default() }).unsaid[0].contains("BF16"));
        assert!(said(LmQuantConfig { skip: vec!["a\"b".into(), "tok_embeddings".into()], ..w8() }).contains("no layer name"));
        // Float weights with a group: nothing to group, noted.
        let inert = read_ptq_config("PTQConfig(weight_quant_dtype=None, weight_quant_granularity=QuantGranularity.PER_GROUP, group_size=64)", &LmQuantConfig::default()).unwrap();
        assert_eq!((inert.quant.weights, inert.quant.group), (LmWeightFormat::F32, 0));
        assert!(inert.notes[0].contains("changes nothing"), "{:?}", inert.notes);
    }

    every_refusal_names_what_it_refuses {
        for (text, says) in [
            ("PTQConfig(weight_quant_dtype=msdtype.int4)", "weight_quant_dtype=msdtype.int4: use one of INT8, QINT4X2, NONE"),
            ("PTQConfig(weight_quant_dtype=msdtype.int8, weight_quant_dtype=None)", "weight_quant_dtype is given twice"),
            ("PTQConfig(outliers_suppression=OutliersSuppressionType.OUTLIER_SUPPRESSION_LITE)", "Outlier Suppression"),
            ("PTQConfig(weight_quant_granularity=QuantGranularity.PER_GROUP)", "needs a group_size"),
            ("PTQConfig(group_size=64)", "group_size=64 is read only with"),
            ("PTQConfig(weight_quant_dtype=msdtype.qint4x2, weight_quant_granularity=QuantGranularity.PER_GROUP, group_size=48)", "group"),
            ("PTQConfig(group_size=sixty)", "group_size=sixty"),
            ("PTQConfig(algo_args={'alpha': 0.5})", "algo_args"),
            ("PTQConfig(algo_args=cfg)", "algo_args"),
            ("PTQConfig(weight_clip=True)", "weight_clip"),
            ("PTQConfig(weight_quant_type=msdtype.int8)", "weight_quant_type: not a PTQConfig field"),
            ("PTQConfig(weight_quant_dtype=None, act_quant_dtype=msdtype.int8)", "int8_acts"),
            ("PTQConfig(outliers_suppression=OutliersSuppressionType.SMOOTH, precision_recovery=PrecisionRecovery.GPTQ)", "SmoothQuant rounds with RTN"),
            ("PTQConfig(opname_blacklist='lm_head')", "a list of names"),
            ("PTQConfig(opname_blacklist=[['lm_head']])", "a list of names"),
            ("PTQConfig(opname_blacklist=[''])", "empty name"),
            ("PTQConfig(opname_blacklist=[lm_head])", "lm_head is not a string"),
            ("PTQConfig(opname_blacklist=['lm_head\"'])", "is not a layer name"),
            ("PTQConfig(opname_blacklist=['layers 0'])", "is not a layer name"),
            ("PTQConfig(opname_blacklist=['lm_head'", "] missing"),
            ("PTQConfig(weight_quant_dtype=msdtype.int8", ") missing"),
            ("PTQConfig(weight_quant_dtype=)", "has no value"),
            ("PTQConfig(msdtype.int8)", "keyword arguments"),
            ("PTQConfig(opname_blacklist=[\"lm_head])", "not closed"),
            // Python's escapes: an escaped quote does not end the string; a name with a quote is
            // still no layer name, and a backslash at the end leaves the string open.
            ("PTQConfig(opname_blacklist=['lm\\'head'])", "\"lm'head\" is not a layer name"),
            ("PTQConfig(opname_blacklist=['lm_head\\'])", "not closed"),
            ("PTQConfig(opname_blacklist=['lm_head\\", "not closed"),
            ("PTQConfig(opname_blacklist=['lm_\\x68ead'])", "the escape \\x at character 33 is not read here"),
            ("PTQConfig(opname_blacklist=['lm_\\\u{202e}'])", "the escape \\\u{fffd} at character 33"),
            ("PTQConfig() extra", "text after"),
            ("QuantConfig(bits=8)", "expected PTQConfig"),
            ("", "expected PTQConfig"),
            ("PTQConfig(weight_quant_dtype=msdtype.int8; x)", "';' at character 42 "),
            ("PTQConfig(opname_blacklist=['ü'], x=ä§)", "'§' at character 38 "),
            ("PTQConfig(group_size=-32)", "group_size=-32: a whole number"),
        ] {
            let e = refused(text);
            assert!(e.contains(says), "{text}: {e}");
        }
        // Sizes are checked before anything is kept: the text and the blacklist.
        let long = format!("PTQConfig(opname_blacklist=[{}])", "'w2',".repeat(MAX_PTQ_CONFIG_CHARS / 5));
        assert!(refused(&long).contains("longer than"));
        let many = format!("PTQConfig(opname_blacklist=[{}])", "'w2',".repeat(MAX_BLACKLIST + 1));
        assert!(refused(&many).contains("more than 1024 entries"));
        // What the call wrote is quoted at most 64 characters long: a 30,000-character field name,
        // value or list does not come back whole in the message.
        let huge = "x".repeat(30_000);
        for text in [
            format!("PTQConfig({huge}=1)"),
            format!("PTQConfig({huge})"),
            format!("PTQConfig({huge}={{}})"),
            format!("PTQConfig({huge}=1, {huge}=1)"),
            format!("PTQConfig(weight_quant_dtype=msdtype.{huge})"),
            format!("PTQConfig(weight_quant_dtype='{huge}')"),
            format!("PTQConfig(group_size=1{})", "0".repeat(30_000)),
            format!("PTQConfig(act_quant_dtype=[{}])", "'ab',".repeat(1000)),
        ] {
            let e = refused(&text);
            assert!(e.chars().count() < 400 && e.contains('…'), "{} characters: {}", e.chars().count(), &e[..e.len().min(200)]);
        }
        let noted = read_ptq_config(&format!("PTQConfig(mode='{huge}')"), &LmQuantConfig::default()).unwrap();
        assert!(noted.notes[0].chars().count() < 200 && noted.notes[0].contains("mode=\"xxx"), "{:?}", &noted.notes[0][..100]);
        // An empty call is Golden Stick's defaults: int8 weights per channel.
        assert_eq!(read("PTQConfig()"), w8());
    }
}
