from flask import Blueprint

bp = Blueprint("programs", __name__, template_folder="templates")


@bp.get("/admin/sponsors")
def sponsors():
    raise NotImplementedError


@bp.get("/admin/programmes")
def programmes():
    raise NotImplementedError


@bp.get("/sponsor/programmes/<int:programme_id>")
def sponsor_programme(programme_id: int):
    raise NotImplementedError
