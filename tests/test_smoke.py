from tests.conftest import login


def test_admin_signs_in_and_sees_home(client, make_user):
    admin = make_user("admin")
    response = login(client, admin.email)
    assert response.status_code == 302
    page = client.get("/")
    assert page.status_code == 200
    assert "Administration" in page.get_data(as_text=True)
