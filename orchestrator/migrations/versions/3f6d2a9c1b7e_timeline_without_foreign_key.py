"""timeline lines without a foreign key to their message (a trigger query per line)

Revision ID: 3f6d2a9c1b7e
Revises: b8436283089c
Create Date: 2026-12-04 18:40:00.000000
"""
from alembic import op

revision = '3f6d2a9c1b7e'
down_revision = 'b8436283089c'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('message_events', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_message_events_message_id_messages'), type_='foreignkey')


def downgrade() -> None:
    with op.batch_alter_table('message_events', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_message_events_message_id_messages'), 'messages',
                                    ['message_id'], ['id'], ondelete='CASCADE')
