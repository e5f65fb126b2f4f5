"""Run a BERT and collect what the losses compare: logits, hidden states and pre-softmax attention scores.

Attention tensor contract (read by :mod:`distill.losses`): ``attention_scores[l]`` is layer
``l``'s raw score ``Q·Kᵀ/√d`` of shape ``[batch, heads, seq, seq]``, taken *before* softmax
and *before* the additive padding mask, as in the TinyBERT reference (which distils scores,
not probabilities). Hugging Face only returns post-softmax probabilities (and only with
``attn_implementation="eager"``), so we register our own attention function, ``distill_scores``:
it computes exactly what eager attention computes and hands back the raw scores instead of the
probabilities. Padded positions keep finite but meaningless scores; losses drop them with
``attention_mask``.

Self-attention vectors (for MiniLM-v2's relation loss): ``self_attention[l]`` is layer ``l``'s
queries, keys and values as the layer's ``query``/``key``/``value`` projections produce them,
``[batch, seq, hidden]`` each (every head side by side), captured by forward hooks, so they are
the same whichever attention implementation the model runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

SCORES_ATTENTION = "distill_scores"
_registered = False


@dataclass
class Features:
    """One forward pass, in the shapes the losses expect.

    Attributes:
        attention_mask: ``[batch, seq]``, 1 for real tokens, 0 for padding.
        hidden_states: ``layers + 1`` tensors ``[batch, seq, hidden]``; index 0 is the embedding output.
        attention_scores: ``layers`` tensors ``[batch, heads, seq, seq]`` (pre-softmax, unmasked).
        logits: ``[batch, num_labels]``, or ``None`` for a model without a head.
        self_attention: layer number (1-based) -> its ``(queries, keys, values)``, each
            ``[batch, seq, hidden]``; only the layers asked for.
    """

    attention_mask: torch.Tensor
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attention_scores: tuple[torch.Tensor, ...] | None = None
    logits: torch.Tensor | None = None
    self_attention: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] | None = None


def _scores_attention(module: nn.Module, query, key, value, attention_mask, scaling=None, dropout=0.0, **_):
    """Eager attention that returns the raw scores ``[batch, heads, seq, seq]`` as its weights."""
    scaling = query.size(-1) ** -0.5 if scaling is None else scaling
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    masked = scores if attention_mask is None else scores + attention_mask
    probabilities = nn.functional.softmax(masked, dim=-1)
    probabilities = nn.functional.dropout(probabilities, p=dropout, training=module.training)
    output = torch.matmul(probabilities, value).transpose(1, 2).contiguous()
    return output, scores


def register_scores_attention() -> None:
    """Make ``distill_scores`` a valid ``attn_implementation`` (and give it eager's padding mask)."""
    global _registered
    if _registered:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(SCORES_ATTENTION, _scores_attention)
    # Without a registered mask function transformers passes no padding mask at all.
    AttentionMaskInterface.register(SCORES_ATTENTION, eager_mask)
    _registered = True


def expose_attention_scores(model: nn.Module) -> None:
    """Switch a model to ``distill_scores`` so ``output_attentions`` yields pre-softmax scores.

    Outputs are unchanged (it is eager attention), and ``save_pretrained`` does not record the
    choice, so saved folders load with the library's default attention.
    """
    register_scores_attention()
    model.set_attn_implementation(SCORES_ATTENTION)


def model_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}


def extract(model: nn.Module, batch: dict[str, torch.Tensor], hidden: bool = True,
            attention: bool = False, self_attention: tuple[int, ...] = ()) -> Features:
    """Run ``model`` on a batch and return its features.

    Args:
        model: a ``BertModel`` or ``BertForSequenceClassification`` (attention requires
            :func:`expose_attention_scores` first).
        batch: ``input_ids``, ``attention_mask``, ``token_type_ids``: ``[batch, seq]``.
        self_attention: layer numbers (1-based) whose queries, keys and values to return.
    """
    captured: dict[tuple[int, str], torch.Tensor] = {}
    hooks = []
    layers = model.base_model.encoder.layer if self_attention else []
    for number in self_attention:
        module = layers[number - 1].attention.self
        for part in ("query", "key", "value"):
            hooks.append(getattr(module, part).register_forward_hook(
                lambda _module, _inputs, output, key=(number, part): captured.__setitem__(key, output)))
    try:
        out = model(**model_inputs(batch), output_hidden_states=hidden, output_attentions=attention,
                    return_dict=True)
    finally:
        for hook in hooks:
            hook.remove()
    return Features(
        attention_mask=batch["attention_mask"],
        hidden_states=tuple(out.hidden_states) if hidden else None,
        attention_scores=tuple(out.attentions) if attention else None,
        logits=getattr(out, "logits", None),
        self_attention={n: tuple(captured[(n, part)] for part in ("query", "key", "value"))
                        for n in self_attention} if self_attention else None,
    )
