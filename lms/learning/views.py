from flask import Blueprint

bp = Blueprint("learning", __name__, template_folder="templates")
