"""Classifiers on cell embeddings (`marrow classify train|evaluate|predict`).

    clf = marrow.classify.train(adata, label="condition", embedding="X_marrow", head="mlp",
                                split="group:patient", seed=0)
    clf.metrics                       # metrics on the split's test part, as the CLI's JSON
    clf.evaluate(other, label="condition")
    clf.predict(other)                # obs columns marrow_prediction, marrow_p_CLASS
    tuned = marrow.classify.finetune(model, adata, label="condition", split="group:patient")

`embedding` is an obsm key of `adata` (an embedding from `marrow.embed`), "pca" (the baseline:
3,000 scaled highly variable genes, 256 principal components) or "hvg" (the scaled genes). A
classifier of two classes stores a decision threshold chosen on the validation part.
`finetune` trains a pretrained model (autoencoder, VAE or gene model) end to end with the head, as
`marrow finetune`; the classifier it returns reads raw counts.
"""
import os

from . import _marrow
from ._api import Model, _output_key, _temporary_file
from ._command import run as _run
from ._data import apply_output


class Classifier(Model):
    """A trained classifier (.marrow file); `metrics` is what training reported on its test part."""

    @property
    def metrics(self):
        return self.summary

    def evaluate(self, adata, label, *, layer=None, progress=True, **options):
        """Metrics on the labelled cells of `adata` (or one `part` of a `split` of them), as
        `marrow classify evaluate`: the same dict as the CLI's JSON."""
        return _run(["classify", "evaluate"], dict(options, model=self.path, label=label), progress,
                    {"data": (adata, layer)})

    def predict(self, adata, prefix="marrow", *, layer=None, progress=True):
        """Adds PREFIX_prediction and PREFIX_p_CLASS columns to `adata.obs`, as `marrow classify
        predict`; returns the predicted labels."""
        out = _output_key("predictions")
        _run(["classify", "predict"], {"model": self.path, "prefix": prefix, "out": out}, progress,
             {"data": (adata, layer)})
        apply_output(adata, _marrow.take_output(out))
        return adata.obs[prefix + "_prediction"]

    def __repr__(self):
        return "marrow.classify.Classifier({!r})".format(self.path)


def train(adata, label, embedding="X_marrow", head=None, *, out=None, layer=None, progress=True, **options):
    """Trains a classifier of `label` on `embedding` with `head` (linear, mlp, transformer, gcn; default the CLI's, mlp), as
    `marrow classify train`; returns a Classifier whose `metrics` are those of the test part."""
    temporary = None
    if out is None:
        out, temporary = _temporary_file()
    metrics = _run(["classify", "train"], dict(options, label=label, embedding=embedding, head=head, out=os.fspath(out)),
                   progress, {"data": (adata, layer)})
    return Classifier(out, metrics, temporary)


def finetune(model, adata, label, head=None, *, out=None, layer=None, progress=True, **options):
    """Fine-tunes pretrained `model` (a Model or .marrow path: autoencoder, VAE or gene model) with `head`
    on `label` of `adata`'s raw counts, as `marrow finetune` (`from_scratch=True`: the same network
    randomly initialised; `encoder_lr_factor`: the pretrained weights' share of the learning rate);
    returns a Classifier whose `metrics` are those of the test part."""
    temporary = None
    if out is None:
        out, temporary = _temporary_file()
    metrics = _run(["finetune"], dict(options, model=os.fspath(model), label=label, head=head, out=os.fspath(out)),
                   progress, {"data": (adata, layer)})
    return Classifier(out, metrics, temporary)


def load(path):
    """Opens a classifier file written by the CLI or by `Classifier.save`."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError("{}: file not found".format(path))
    return Classifier(path)


def _document():
    from ._api import _options_doc

    train.__doc__ += "\n" + _options_doc(["classify", "train"])
    finetune.__doc__ += "\n" + _options_doc(["finetune"])
    Classifier.evaluate.__doc__ += "\n" + _options_doc(["classify", "evaluate"])


_document()
