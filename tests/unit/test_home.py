from bot.emulator import blockkit
from commands.home import all_items_view, gathering_view, home_view
from store.health import Owed
from store.outbox import Button


def _items(n: int) -> list[Owed]:
    return [Owed(f"P-{i % 20:03d}", rank=i, text=f"Batch B-{i} awaits your decision <!channel>"[:60],
                 buttons=(Button("Approve", "batch_approve", f"{i}"), Button("Hold", "batch_hold", f"{i}")))
            for i in range(n)]


def test_three_hundred_items_fit_slack_limits_most_urgent_first():
    view = home_view(_items(300), [f"*P-{i:03d}* healthy" for i in range(60)], manager=True)
    assert len(view["blocks"]) <= 100
    assert blockkit.check_view(view) is None
    texts = [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]
    assert texts[0].startswith("*P-000* · Batch B-0 ")
    assert any("more, less urgent" in t for t in texts)
    first_page = all_items_view(_items(300), 0)
    last_page = all_items_view(_items(300), 99)
    assert blockkit.check_view(first_page) is None and blockkit.check_view(last_page) is None
    assert "Page 8 of 8" in last_page["blocks"][0]["elements"][0]["text"]
    for page in range(8):  # the middle pages carry Previous and Next in one block: distinct action_ids
        assert blockkit.check_view(all_items_view(_items(300), page)) is None, page
    assert blockkit.check_view(gathering_view()) is None  # the modal as it opens, before it is filled


def test_empty_home():
    view = home_view([], [], manager=False)
    assert "Nothing waits for you" in view["blocks"][1]["text"]["text"]
