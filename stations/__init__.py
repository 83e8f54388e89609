"""The union rest-station directory (工会驿站), as pure code with no I/O: the CSV format staff
import and export, the services vocabulary, opening hours, distances and coordinates, map
links, and the words riders use to ask for a station. storage/stations.py keeps the table and
its R*Tree index; bot/stations_desk.py answers riders from it."""
