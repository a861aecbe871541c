"""The data a run reads and writes, before any model: the label vocabulary (`labels`), the one
image preprocessing function shared by extraction, training and serving (`preprocessing`),
gzipped TFRecords and their checking pass (`records`) and record counts (`record_counts`), the
same pass parsed by TF with a subsample and a stream for rows beyond the memory budget
(`bottleneck_stream`), tf.data pipelines (`datasets`), the raw images behind the bottleneck rows
(`raw_images`) and files through `tf.io.gfile` (`storage`).

May import: `common`.
"""
