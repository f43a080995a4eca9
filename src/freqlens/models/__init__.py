"""The model zoo: a registry of networks that take images in [0, 1] and return logits.

Every model starts with a :class:`~freqlens.models.layers.Normalize` submodule, so attacks, filters and views act in
pixel space. Build one with :func:`create_model`; add one with :func:`register_model`.

=================  =========================================================================================
``small_cnn``      small fast CNN for CPU work (``width``, ``batchnorm``, ``dropout``)
``hfc_resnet32``   the HFC paper's 16-wide 32-layer option-A ResNet, BN off by default (``batchnorm``,
                   ``batch_stats``, ``dropout``)
``resnet18``       CIFAR ResNet-18
``myrtle_cnn``     Myrtle CNN (Godfrey et al.)
``vgg11..vgg19``   CIFAR VGGs, no BN by default
``circular_cnn``   Godfrey's full-width circular CNN (``depth``, ``width``, ``linear``)
``torchvision:N``  ``torchvision.models.get_model(N)`` (extra ``vision``)
``timm:N``         ``timm.create_model(N)`` (extra ``timm``)
=================  =========================================================================================
"""

from freqlens.models import circular, myrtle, resnet, small, vgg  # noqa: F401  (register the built-in models)
from freqlens.models.layers import Normalize
from freqlens.models.registry import ModelEntry, create_model, get_entry, list_models, model_spec, register_model

__all__ = ["ModelEntry", "Normalize", "create_model", "get_entry", "list_models", "model_spec", "register_model"]
