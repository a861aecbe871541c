"""Plain-Keras model code of tfx-transfer, one room per concern.

Nothing here depends on TFX artifacts, so it can be used and tested without a pipeline. The
rooms, lowest first; a room imports only from the rooms listed before it (the test
`tests/trainer/test_layers.py` checks this and that there are no cycles):

  common/     argument checks, progress lines, the plugin version, the fenced Keras internals
  data/       label vocabulary, image preprocessing, TFRecords, tf.data pipelines, raw images, files
  base/       where a base comes from, building and cutting it, weights hashes, model-file
              safety, the feature-extractor artifact
  training/   the head, the two training phases, augmentation, the serving export
  selection/  the validation plan, the probe, cut scores (k-NN, LogME), augmented copies, the
              strategy, the no-transfer control and the gate
  domain/     drift, and learning from unlabelled images: semi-supervision, adaptation
  labelling/  the labelling loop: training images whose label looks wrong, images to label next

At the top, importing any room:
  run_config.py  `RunConfig`, the one typed configuration of a run
  training_data.py  `TrainingData`, the labelled rows of a run, and `label_vocabulary`
  transfer.py    one transfer-learning run on cached bottlenecks, end to end
  run_fn.py      `run_fn` for the standard TFX Trainer
"""

# The rooms, lowest first: each may import only from those before it.
LAYERS = ("common", "data", "base", "training", "selection", "domain", "labelling")
