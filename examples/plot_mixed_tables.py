"""
=================================================
A mixed table: imputing and sampling the penguins
=================================================

The Palmer penguins table (344 penguins, from the ``palmerpenguins``
package, which ships it: nothing is downloaded) mixes three categorical
columns (``species``, ``island``, ``sex``) with four measurements, and some
entries are missing. :class:`~skvae.VAEImputer` and
:class:`~skvae.VariationalAutoencoder` take it as a DataFrame: each
categorical column gets a softmax over its categories, each real column
Student's t noise (see "Mixed tables" in the user guide). Here the imputer
fills cells hidden at random, next to :class:`~sklearn.impute.SimpleImputer`
(column means and most frequent categories); the autoencoder then maps the
penguins to a 2-D latent space and draws a small synthetic table.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from palmerpenguins import load_penguins
from sklearn.impute import SimpleImputer

from skvae import VAEImputer, VariationalAutoencoder

# SKVAE_EXAMPLES_SMOKE=1 runs every example with tiny settings (for the tests).
SMOKE = os.environ.get("SKVAE_EXAMPLES_SMOKE") == "1"

penguins = load_penguins().drop(columns="year")
categorical = ["species", "island", "sex"]
numeric = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
# Text columns are categorical: a category dtype says so whatever the pandas version.
penguins[categorical] = penguins[categorical].astype("category")
# The columns stay in their units (body mass in thousands of grams, bill
# depth in tens of millimetres): the network reads each real column
# standardized by its mean and deviation at fit, and gives it back in them.
table = penguins
print(table.dtypes.to_string())

vae_params = dict(epochs=2 if SMOKE else 300, n_importance_samples=5 if SMOKE else 50)

# %%
# Imputing hidden cells
# ---------------------
# A fifth of the observed cells of every column are hidden at random; each
# imputer is fitted on the table with the holes (the table's own missing
# entries included) and fills them. Numbers are scored by their RMSE in
# standard deviations, categories by the share filled wrong.
rng = np.random.default_rng(0)
hidden = (rng.random(table.shape) < 0.2) & table.notna().to_numpy()
holes = table.mask(hidden)

imputer = VAEImputer(random_state=0, **vae_params).fit(holes)
imputed = {"VAEImputer": imputer.transform(holes)}

baseline = holes.copy()
baseline[numeric] = SimpleImputer(strategy="mean").fit_transform(holes[numeric])
for name in categorical:
    column = holes[[name]].astype(object)
    filled = SimpleImputer(strategy="most_frequent").fit_transform(column)
    baseline[name] = filled[:, 0]
imputed["SimpleImputer"] = baseline


def errors(completed):
    """RMSE (in standard deviations) of each numeric column, share wrong of each category."""
    result = {}
    for j, name in enumerate(table.columns):
        rows = hidden[:, j]
        truth, guess = table[name][rows], completed[name][rows]
        if name in numeric:
            rmse = np.sqrt(np.mean((guess.astype(float) - truth) ** 2))
            result[name] = float(rmse / table[name].std())
        else:
            result[name] = float(np.mean(guess.astype(object) != truth.astype(object)))
    return result


print("\nOn the hidden cells (numbers: RMSE / std; categories: share wrong)")
print(f"{'column':20}" + "".join(f"{name:>15}" for name in imputed))
scores = {name: errors(completed) for name, completed in imputed.items()}
for column in table.columns:
    print(f"{column:20}" + "".join(f"{scores[name][column]:15.2f}" for name in imputed))

# %%
# The measurements predict one another and the species, and the species
# predicts the island: the VAE fills each hidden cell from the rest of its
# row, where the baseline gives every row the same value. Every imputed
# category is one of the column's categories, and the dtypes are kept.

assert (imputed["VAEImputer"].dtypes == table.dtypes).all()

# %%
# A 2-D latent space
# ------------------
# :class:`~skvae.VariationalAutoencoder` needs complete rows: it is fitted on
# the 333 complete penguins. ``transform`` gives each penguin's latent mean.
complete = table.dropna()
vae = VariationalAutoencoder(latent_dim=2, random_state=0, **vae_params).fit(complete)
Z = vae.transform(complete)

fig, ax = plt.subplots(figsize=(5, 4))
for species in complete["species"].cat.categories:
    rows = (complete["species"] == species).to_numpy()
    ax.scatter(Z[rows, 0], Z[rows, 1], s=10, label=species)
ax.set_xlabel("latent 1")
ax.set_ylabel("latent 2")
ax.set_title("Penguins in the VAE's latent space")
ax.legend(title="species")
fig.tight_layout()

# %%
# A synthetic table
# -----------------
# ``sample`` draws new rows from the model: a latent point from the prior,
# then every column from the decoder's distribution (a category with its
# probabilities, a measurement with its learned noise). The result has the
# fitted columns, dtypes and categories, the measurements in their units.
synthetic = vae.sample(300, random_state=0)
print("\nFive synthetic penguins")
print(synthetic.head().round(1).to_string())
print("\nShare of each species: data, synthetic")
print(
    complete["species"]
    .value_counts(normalize=True)
    .round(2)
    .to_frame("data")
    .join(synthetic["species"].value_counts(normalize=True).round(2).rename("synthetic"))
    .to_string()
)
print("\nSynthetic penguins per species and island")
print(pd.crosstab(synthetic["species"], synthetic["island"]).to_string())

# %%
# The species keep their shares, and their measurements their ranges. The
# dependence between columns is learned as well as 333 rows and a 2-D latent
# space allow: in the data the Gentoo penguins live on Biscoe only, and the
# cross table shows how far the synthetic ones keep to it.
plt.show()
