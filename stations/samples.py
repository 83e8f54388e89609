"""Demo mode's example stations (gigdesk serve --demo), around 上海人民广场 where the sample
WeChat location points. Invented, and named 示例 so nobody mistakes them for real ones; the
directory marks them sample and every reply that names one says 示例数据. Never loaded
outside demo mode."""
SAMPLE_CSV = """name,address,lat,lng,hours,services,phone,city,district,updated
示例驿站·人民广场,示例地址：人民大道旁,31.2322,121.4752,24小时,饮水、如厕、充电、休息,,上海,黄浦区,2026-11-01
示例驿站·南京东路,示例地址：南京东路步行街东口,31.2390,121.4840,08:00-20:00,饮水、热饭、休息、避雨,,上海,黄浦区,2026-11-01
示例驿站·新天地,示例地址：马当路附近,31.2205,121.4760,07:00-23:00,饮水、如厕、充电、药箱,,上海,黄浦区,2026-11-01
示例驿站·静安寺,示例地址：南京西路附近,31.2240,121.4460,周一至周五 9:00-18:00,充电、换电、法律服务,,上海,静安区,2026-11-01
""".encode()
