"""Sub-seasonal and planting products (torch-free: runs on the edge box).

Everything works on xarray objects, so the same code serves the forecast engine's
ensembles, hindcasts and observations.

Conventions shared by every module here
---------------------------------------
* **Daily series** (``products.daily``): a DataArray/Dataset with a ``time`` dimension of
  whole days (``datetime64[ns]`` at 00:00). ``total_precipitation`` (mm) at day ``D`` is the
  rain over ``[D, D + 1 day)``; ``2m_temperature`` (K) is the daily mean. Any other
  dimensions ride along (``member``, ``location``, ``lat``/``lon``, ``start``). NaN is a
  missing day. A forecast's daily series carries ``lead_day(time)`` = 1, 2, ... (lead day
  ``k`` is the date ``init date + k``) and the scalar coordinate ``init_time``.
* **Lead periods** (``products.periods``): ``week1`` .. ``week6`` (lead days
  ``7(k-1)+1 .. 7k``) and the fortnights ``weeks3-4`` (15-28) and ``weeks5-6`` (29-42);
  dimension ``period`` (string labels), with coordinates ``first_lead_day`` and
  ``last_lead_day``. Rain is summed, temperature averaged, over the period's days.
* **Season rules** (``products.season_rules``): onset, false start, dry spells and
  cessation are parameter sets in ``conf/products/rules/<preset>.yaml``.
* **Season analysis** (``products.season.analyse_seasons``): per series and season year,
  dims ``(..., year)``.
* **Tercile categories**: dimension ``category`` = ``below``, ``near``, ``above``.
"""
