"""A general-distillation student's first weights: random, or with the teacher's embeddings.

``teacher_embeddings`` starts the student's word, position and token-type embeddings from the
teacher's, projected onto the top principal directions of the teacher's word embeddings (as many
as the student is wide). Words the teacher places near each other start near each other in the
student, which a short general distillation on a small corpus cannot otherwise teach; the rest
of the student stays random.
"""

from __future__ import annotations

import torch

from eval.core.errors import UserError

EMBEDDINGS = ("word_embeddings", "position_embeddings", "token_type_embeddings")


@torch.no_grad()
def embeddings_from_teacher(student, teacher) -> None:
    """Overwrite ``student``'s embedding tables with ``teacher``'s, projected to the student's width.

    Raises:
        UserError: the student is wider than the teacher, or their vocabularies differ in size.
    """
    source, target = teacher.embeddings, student.embeddings
    words = source.word_embeddings.weight.float()
    width = target.word_embeddings.weight.shape[1]
    if width > words.shape[1]:
        raise UserError(f"student_init teacher_embeddings needs a student at most as wide as its teacher "
                        f"(student {width}, teacher {words.shape[1]}); use student_init: random")
    if target.word_embeddings.weight.shape[0] != words.shape[0]:
        raise UserError(f"student vocabulary ({target.word_embeddings.weight.shape[0]}) differs from the "
                        f"teacher's ({words.shape[0]}); build the student from the teacher's config")
    _, _, directions = torch.linalg.svd(words - words.mean(0), full_matrices=False)
    basis = directions[:width]  # [student width, teacher width], orthonormal rows
    for name in EMBEDDINGS:
        table = getattr(target, name).weight
        table.copy_((getattr(source, name).weight.float() @ basis.T).to(table.dtype))
