from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("characters", "0006_marvel_digest"),
    ]

    operations = [
        migrations.AddField(
            model_name="character",
            name="version",
            field=models.PositiveBigIntegerField(default=1, editable=False),
        ),
        migrations.AddField(
            model_name="comic",
            name="version",
            field=models.PositiveBigIntegerField(default=1, editable=False),
        ),
    ]
