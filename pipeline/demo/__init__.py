"""The offline demo: scikit-learn's digits as image folders (`data`), a source CNN trained on
digits 0-4 by the standard Trainer (`source_model`), and the pipeline that transfers it to
digits 5-9 (`run`)."""
