"""sms opt-outs: the numbers that texted STOP, whoever they belong to

Revision ID: b8436283089c
Revises: c215485f10d9
Create Date: 2026-12-02 18:13:24.781927
"""
from alembic import op
import sqlalchemy as sa
import orchestrator.models.base


revision = 'b8436283089c'
down_revision = 'c215485f10d9'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sms_opt_outs',
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('opted_out_at', orchestrator.models.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('phone', name=op.f('pk_sms_opt_outs'))
    )
    # The numbers of contacts already opted out stay opted out at number level too.
    contacts = sa.table('contacts', sa.column('phone', sa.String), sa.column('sms_opted_out', sa.Boolean),
                        sa.column('updated_at', orchestrator.models.base.UtcDateTime(timezone=True)))
    opt_outs = sa.table('sms_opt_outs', sa.column('phone', sa.String), sa.column('opted_out_at'),
                        sa.column('source', sa.String))
    known = (sa.select(contacts.c.phone, sa.func.min(contacts.c.updated_at), sa.literal('contact'))
             .where(contacts.c.sms_opted_out.is_(sa.true()), contacts.c.phone.is_not(None))
             .group_by(contacts.c.phone))
    op.execute(opt_outs.insert().from_select(['phone', 'opted_out_at', 'source'], known))


def downgrade() -> None:
    op.drop_table('sms_opt_outs')
