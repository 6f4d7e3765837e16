"""What runs inside the Trainer (and the Transform) on any runner or worker.

TFX 1.16, tf.Transform and TFMA expect Keras 2 (tf_keras); TensorFlow 2.16
gives Keras 3 unless TF_USE_LEGACY_KERAS is set before it is first imported.
Set here once: every package of this project imports this one first
(components/, pipeline/, kubeflow/ and the tests through their own
`__init__`).
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
