"""TFMA's models load with their signatures called by name: TFMA's one
positional argument (the serialized examples) reaches the signature as its
named input, a signature of several inputs is called as it is, and TFMA
still reads each signature's input specs."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_model_analysis as tfma

from components.evaluator import models


class _Module(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(self, examples):
        return {"length": tf.strings.length(examples)}

    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.float32), tf.TensorSpec([None], tf.float32)]
    )
    def add(self, a, b):
        return {"sum": a + b}


def _loaded(tmp_path):
    module = _Module()
    path = str(tmp_path / "model")
    tf.saved_model.save(
        module, path, signatures={"serving_default": module.serve, "add": module.add}
    )
    config = tfma.EvalConfig(model_specs=[tfma.ModelSpec(name="candidate")])
    return models.shared_model(path, "candidate", config).model_loader.load()


def test_tfma_s_positional_examples_reach_the_signature_by_name(tmp_path):
    model = _loaded(tmp_path)
    serving = model.signatures["serving_default"]
    assert isinstance(serving, models.KeywordCall)
    found = serving(tf.constant([b"ab", b"abcd"]))
    assert found["length"].numpy().tolist() == [2, 4]
    specs = tfma.utils.model_util.get_input_specs(model, "serving_default")
    assert list(specs) == ["examples"]


def test_a_signature_of_two_inputs_is_called_as_it_is(tmp_path):
    added = _loaded(tmp_path).signatures["add"](a=tf.constant([1.0]), b=tf.constant([2.5]))
    assert added["sum"].numpy().tolist() == [3.5]


def test_a_keyword_only_callable_gets_its_one_argument_by_name():
    class KeywordOnly:
        structured_input_signature = ((), {"examples": tf.TensorSpec([None], tf.string)})

        def __call__(self, *, examples):
            return examples

    assert models.KeywordCall(KeywordOnly())("serialized") == "serialized"
