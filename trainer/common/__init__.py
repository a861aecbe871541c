"""What every other room uses: argument checks (`checks`), progress lines (`progress`), the
plugin version that keys every cache (`version`), and every private Keras internal, fenced in
one module (`keras_compat`).

May import: nothing else of `tfx_transfer.trainer`.
"""
