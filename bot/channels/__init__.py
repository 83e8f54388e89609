"""One module per way in. Only these read raw requests (and only wechat.py imports wechatpy)."""
